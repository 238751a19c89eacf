"""Chinese provinces as ISO 3166-2:CN codes (``"ZJ"``), the region style routing uses (``CN-ZJ``).

Channels name provinces their own way: Taobao in Chinese (``"浙江省"``, ``"广西壮族自治区"``),
WooCommerce with its own numbered codes (``"CN12"``). Unknown names give None; callers
keep the native text and flag it. The names and codes themselves are ``router/subdivisions.py``.
"""

from __future__ import annotations

from router.subdivisions import CN_PROVINCES, cn_province

# WooCommerce's own province codes for CN (woocommerce/i18n/states.php).
_WOO = {
    "CN1": "YN",
    "CN2": "BJ",
    "CN3": "TJ",
    "CN4": "HE",
    "CN5": "SX",
    "CN6": "NM",
    "CN7": "LN",
    "CN8": "JL",
    "CN9": "HL",
    "CN10": "SH",
    "CN11": "JS",
    "CN12": "ZJ",
    "CN13": "AH",
    "CN14": "FJ",
    "CN15": "JX",
    "CN16": "SD",
    "CN17": "HA",
    "CN18": "HB",
    "CN19": "HN",
    "CN20": "GD",
    "CN21": "GX",
    "CN22": "HI",
    "CN23": "CQ",
    "CN24": "SC",
    "CN25": "GZ",
    "CN26": "SN",
    "CN27": "GS",
    "CN28": "QH",
    "CN29": "NX",
    "CN30": "MO",
    "CN31": "XZ",
    "CN32": "XJ",
}


def province_code(text: str) -> str | None:
    """ISO 3166-2:CN code for a province name in Chinese, a WooCommerce code, or an ISO code."""
    text = (text or "").strip()
    return _WOO.get(text.upper()) or cn_province(text)


def province_name(code: str) -> str | None:
    """The official Chinese name of the province ``code`` (``"ZJ"`` -> ``"浙江省"``)."""
    return CN_PROVINCES.get(code)
