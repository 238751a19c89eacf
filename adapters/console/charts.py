"""Charts as inline SVG, drawn on the server: no script, no CDN, readable without JavaScript.

Each function takes ``(label, value)`` pairs (values: numbers or decimal strings) and returns
markup safe to embed; labels are escaped. Every bar carries a ``<title>`` for a hover tooltip.
"""
from __future__ import annotations

from decimal import Decimal
from html import escape

from markupsafe import Markup

PALETTE = ("#2b6cb0", "#2f855a", "#b7791f", "#9b2c2c", "#6b46c1", "#2c7a7b")


def _num(value) -> float:
    return float(Decimal(str(value))) if value not in (None, "") else 0.0


def _fmt(value) -> str:
    number = _num(value)
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


def columns(points: list[tuple[str, object]], title: str, color: int = 0, height: int = 220) -> Markup:
    """Vertical bars in order (a time series: days or months)."""
    if not points:
        return Markup(f'<p class="empty-chart">{escape(title)}: –</p>')
    width, pad_left, pad_bottom, top = 640, 48, 40, 24
    top_value = max(_num(v) for _, v in points) or 1.0
    step = (width - pad_left - 10) / len(points)
    bar = max(2.0, step * 0.7)
    parts = [f'<svg class="chart chart-columns" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
             f'<text class="chart-title" x="{pad_left}" y="16">{escape(title)}</text>',
             f'<line x1="{pad_left}" y1="{height - pad_bottom}" x2="{width - 5}" y2="{height - pad_bottom}" '
             f'stroke="#999"/>',
             f'<text class="axis" x="{pad_left - 4}" y="{top + 8}" text-anchor="end">{_fmt(top_value)}</text>',
             f'<text class="axis" x="{pad_left - 4}" y="{height - pad_bottom}" text-anchor="end">0</text>']
    label_every = max(1, len(points) // 12)
    for i, (label, value) in enumerate(points):
        h = (height - pad_bottom - top) * _num(value) / top_value
        x = pad_left + i * step + (step - bar) / 2
        y = height - pad_bottom - h
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                     f'fill="{PALETTE[color % len(PALETTE)]}"><title>{escape(str(label))}: {_fmt(value)}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text class="axis" x="{x + bar / 2:.1f}" y="{height - pad_bottom + 14}" '
                         f'text-anchor="middle">{escape(str(label)[-5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(rows: list[tuple[str, object]], title: str, color: int = 0, note: str = "") -> Markup:
    """Horizontal bars, one per row, in the given order (rankings: channels, regions, SKUs)."""
    if not rows:
        return Markup(f'<p class="empty-chart">{escape(title)}: –</p>')
    row_h, label_w, width, top = 22, 150, 560, 28
    height = top + row_h * len(rows) + 8
    top_value = max(_num(v) for _, v in rows) or 1.0
    parts = [f'<svg class="chart chart-bars" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
             f'<text class="chart-title" x="0" y="16">{escape(title)}{escape(note)}</text>']
    for i, (label, value) in enumerate(rows):
        y = top + i * row_h
        w = (width - label_w - 80) * _num(value) / top_value
        parts.append(f'<text class="axis" x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(str(label))[:24]}</text>')
        parts.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 6}" '
                     f'fill="{PALETTE[color % len(PALETTE)]}"><title>{escape(str(label))}: {_fmt(value)}</title></rect>')
        parts.append(f'<text class="value" x="{label_w + max(w, 1) + 4:.1f}" y="{y + 14}">{_fmt(value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
