"""Chinese provinces as ISO 3166-2:CN codes (``"ZJ"``), the region style routing uses (``CN-ZJ``).

Channels name provinces their own way: Taobao in Chinese (``"浙江省"``, ``"广西壮族自治区"``),
WooCommerce with its own numbered codes (``"CN12"``). Unknown names give None; callers
keep the native text and flag it.
"""

from __future__ import annotations

# Longest names first where one is a prefix of another is not needed: no two share a prefix.
_BY_NAME = {
    "安徽": "AH",
    "北京": "BJ",
    "重庆": "CQ",
    "福建": "FJ",
    "广东": "GD",
    "甘肃": "GS",
    "广西": "GX",
    "贵州": "GZ",
    "河南": "HA",
    "湖北": "HB",
    "河北": "HE",
    "海南": "HI",
    "香港": "HK",
    "黑龙江": "HL",
    "湖南": "HN",
    "吉林": "JL",
    "江苏": "JS",
    "江西": "JX",
    "辽宁": "LN",
    "澳门": "MO",
    "内蒙古": "NM",
    "宁夏": "NX",
    "青海": "QH",
    "四川": "SC",
    "山东": "SD",
    "上海": "SH",
    "陕西": "SN",
    "山西": "SX",
    "天津": "TJ",
    "台湾": "TW",
    "新疆": "XJ",
    "西藏": "XZ",
    "云南": "YN",
    "浙江": "ZJ",
}

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
_CODES = set(_BY_NAME.values())


def province_code(text: str) -> str | None:
    """ISO 3166-2:CN code for a province name in Chinese, a WooCommerce code, or an ISO code."""
    text = (text or "").strip()
    upper = text.upper().removeprefix("CN-")
    if upper in _CODES:
        return upper
    if text.upper() in _WOO:
        return _WOO[text.upper()]
    return next((code for name, code in _BY_NAME.items() if text.startswith(name)), None)
