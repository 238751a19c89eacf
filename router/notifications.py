"""Customer e-mail notifications, the pure parts: which timeline entries notify the customer,
whether the merchant and the channel want it, in which language, and the words of each e-mail.

No I/O here: services/notifications.py records and sends, adapters/outbound/email.py speaks SMTP.

Kinds: ``confirmed`` (the order reached awaiting shipment: paid, or cash on delivery / terms),
``shipped`` (a fulfilment shipped: its tracking number and the carrier's tracking link),
``delivered`` (the order's shipment status became delivered), ``refunded`` (money went back:
the amount of that refund) and ``exception`` (a delivery exception was flagged).

A notification's id is its idempotency key (also the e-mail's Message-ID): ``confirmed`` and
``delivered`` happen once per order, the others once per timeline entry, so fanning an order's
timeline out twice names the same notifications.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

CONFIRMED, SHIPPED, DELIVERED, REFUNDED, EXCEPTION = "confirmed", "shipped", "delivered", "refunded", "exception"
KINDS = (CONFIRMED, SHIPPED, DELIVERED, REFUNDED, EXCEPTION)
ONCE_PER_ORDER = (CONFIRMED, DELIVERED)
LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"

# Notification states (documents/notifications.py): waiting or being sent, sent (the SMTP server
# accepted it), failed (refused for good, or still failing at the end of the give-up window).
PENDING, SENT, FAILED = "pending", "sent", "failed"


def _change(entry: Mapping, key: str) -> tuple[object, object] | None:
    change = ((entry.get("details") or {}).get("changes") or {}).get(key)
    if isinstance(change, (list, tuple)) and len(change) == 2 and change[0] != change[1]:
        return change[0], change[1]
    return None


def kinds_of(entry: Mapping) -> list[tuple[str, dict]]:
    """The notifications one timeline entry raises, with what each says beyond the order:
    ``shipped``: ``fulfilment_ids``; ``refunded``: ``amount`` (Decimal); ``exception``: ``reason``."""
    out: list[tuple[str, dict]] = []
    status = _change(entry, "status")
    if status and status[1] == "awaiting_shipment" and status[0] in (None, "pending_payment", "on_hold"):
        out.append((CONFIRMED, {}))
    shipped = sorted(k.split(".", 1)[1] for k, v in ((entry.get("details") or {}).get("changes") or {}).items()
                     if k.startswith("fulfilments.") and isinstance(v, (list, tuple)) and len(v) == 2
                     and v[1] == "shipped" and v[0] != "shipped")
    if shipped:
        out.append((SHIPPED, {"fulfilment_ids": shipped}))
    delivered = _change(entry, "shipment_status")
    if delivered and delivered[1] == "delivered":
        out.append((DELIVERED, {}))
    refunded = _change(entry, "refunded_amount")
    if refunded:
        amount = Decimal(str(refunded[1] or 0)) - Decimal(str(refunded[0] or 0))
        if amount > 0:
            out.append((REFUNDED, {"amount": amount}))
    if entry.get("event") == "exception.flagged":
        out.append((EXCEPTION, {"reason": str((entry.get("details") or {}).get("kind") or "")}))
    return out


def notification_id(order_id: str, index: int, kind: str) -> str:
    """The notification's id and idempotency key: ``ntf-<order>-<kind>`` for a kind sent once per
    order, ``ntf-<order>-<timeline index>-<kind>`` for the rest."""
    return f"ntf-{order_id}-{kind}" if kind in ONCE_PER_ORDER else f"ntf-{order_id}-{index}-{kind}"


def email_settings(merchant: Mapping | None) -> Mapping:
    """The merchant's ``notifications.email`` (absent: on, every kind)."""
    return ((merchant or {}).get("notifications") or {}).get("email") or {}


def wanted(kind: str, merchant: Mapping | None, channel: Mapping | None) -> str | None:
    """Why the customer gets no ``kind`` e-mail (``channel_notifies``, ``merchant_off``,
    ``kind_off``), or None when they get one."""
    if (channel or {}).get("notifies_customers"):
        return "channel_notifies"
    settings = email_settings(merchant)
    if settings.get("enabled") is False:
        return "merchant_off"
    events = settings.get("events")
    if events is not None and kind not in events:
        return "kind_off"
    return None


def language_of(customer_locale: str | None, channel: Mapping | None, merchant: Mapping | None) -> str:
    """``zh`` or ``en``: the customer's locale (``zh-CN``, ``en_US``...), else the channel's
    ``locale``, else the merchant's ``notifications.email.language``, else English."""
    for value in (customer_locale, (channel or {}).get("locale"), email_settings(merchant).get("language")):
        code = str(value or "").strip().lower().replace("_", "-").split("-", 1)[0]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def tracking_link(template: str | None, tracking_number: str) -> str | None:
    """The carrier's tracking page for ``tracking_number``: its ``tracking_url`` with
    ``{tracking_number}`` filled in (None when the carrier has none)."""
    return template.replace("{tracking_number}", tracking_number) if template else None


_SUBJECTS = {
    "en": {CONFIRMED: "Your order {ref} is confirmed", SHIPPED: "Your order {ref} has shipped",
           DELIVERED: "Your order {ref} was delivered", REFUNDED: "A refund for your order {ref}",
           EXCEPTION: "A problem with the delivery of your order {ref}"},
    "zh": {CONFIRMED: "您的订单 {ref} 已确认", SHIPPED: "您的订单 {ref} 已发货", DELIVERED: "您的订单 {ref} 已签收",
           REFUNDED: "您的订单 {ref} 已退款", EXCEPTION: "您的订单 {ref} 配送异常"},
}
_BODIES = {
    "en": {CONFIRMED: "Thank you{name}. We have your order {ref} and are getting it ready.",
           SHIPPED: "Good news{name}: your order {ref} is on its way.",
           DELIVERED: "Your order {ref} was delivered{name_tail}. We hope you enjoy it.",
           REFUNDED: "We have refunded {amount} for your order {ref}.",
           EXCEPTION: "Something held up the delivery of your order {ref}. We are on it and will keep you posted."},
    "zh": {CONFIRMED: "{name}您好，我们已收到您的订单 {ref}，正在为您备货。",
           SHIPPED: "{name}您好，您的订单 {ref} 已发货。",
           DELIVERED: "您的订单 {ref} 已签收，感谢您的购买。",
           REFUNDED: "您的订单 {ref} 已退款 {amount}。",
           EXCEPTION: "您的订单 {ref} 配送遇到异常，我们正在处理，会及时告知您进展。"},
}
_PARCEL = {"en": "Tracking number {number}{carrier}: {link}", "zh": "运单号 {number}{carrier}：{link}"}
_PARCEL_NO_LINK = {"en": "Tracking number {number}{carrier}", "zh": "运单号 {number}{carrier}"}
_ORDER_LINK = {"en": "See your order: {link}", "zh": "查看订单：{link}"}


def render(kind: str, language: str, facts: Mapping) -> tuple[str, str]:
    """``(subject, plain text body)`` of a ``kind`` e-mail in ``language``. ``facts``: ``ref``
    (the order as the customer knows it), ``name``, ``amount`` and ``currency`` (refunded),
    ``parcels`` (shipped: ``{number, carrier, link}`` each), ``order_link`` (or None)."""
    lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
    name = str(facts.get("name") or "")
    words = {"ref": facts.get("ref") or "",
             "name": (f", {name}" if lang == "en" else name) if name else "",
             "name_tail": f", {name}" if name and lang == "en" else "",
             "amount": f"{facts.get('amount')} {facts.get('currency') or ''}".strip()}
    lines = [_BODIES[lang][kind].format(**words)]
    for parcel in facts.get("parcels") or ():
        carrier = f" ({parcel['carrier']})" if parcel.get("carrier") else ""
        template = _PARCEL if parcel.get("link") else _PARCEL_NO_LINK
        lines.append(template[lang].format(number=parcel["number"], carrier=carrier, link=parcel.get("link")))
    if facts.get("order_link"):
        lines.append(_ORDER_LINK[lang].format(link=facts["order_link"]))
    return _SUBJECTS[lang][kind].format(**words), "\n\n".join(lines) + "\n"
