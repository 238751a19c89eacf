"""ISO 3166-2 subdivision codes of written addresses: ``("CN", "浙江省")`` -> ``"CN-ZJ"``.

An address keeps its region, city and district as the customer wrote them (the warehouse and the
courier print them); routing rules and freight zones read the subdivision code beside it
(``Address.region_code``). A code is known when the region names a Chinese province (in Chinese,
with or without 省 / 市 / 自治区, or by its code), or is written as a code already (``"NY"``,
``"US-NY"``: one to three capital letters or digits, as ISO 3166-2 suffixes are); otherwise it is
unknown (``""``) and routing falls back to the written region, as it always did.
"""
from __future__ import annotations

import re

# ISO 3166-2:CN codes and each province's official name (the short name is its first characters).
CN_PROVINCES = {
    "AH": "安徽省", "BJ": "北京市", "CQ": "重庆市", "FJ": "福建省", "GD": "广东省", "GS": "甘肃省",
    "GX": "广西壮族自治区", "GZ": "贵州省", "HA": "河南省", "HB": "湖北省", "HE": "河北省", "HI": "海南省",
    "HK": "香港特别行政区", "HL": "黑龙江省", "HN": "湖南省", "JL": "吉林省", "JS": "江苏省", "JX": "江西省",
    "LN": "辽宁省", "MO": "澳门特别行政区", "NM": "内蒙古自治区", "NX": "宁夏回族自治区", "QH": "青海省",
    "SC": "四川省", "SD": "山东省", "SH": "上海市", "SN": "陕西省", "SX": "山西省", "TJ": "天津市",
    "TW": "台湾省", "XJ": "新疆维吾尔自治区", "XZ": "西藏自治区", "YN": "云南省", "ZJ": "浙江省",
}
# The short names: no two share a prefix, so the first that starts a written name is the one.
CN_SHORT_NAMES = {
    "AH": "安徽", "BJ": "北京", "CQ": "重庆", "FJ": "福建", "GD": "广东", "GS": "甘肃", "GX": "广西",
    "GZ": "贵州", "HA": "河南", "HB": "湖北", "HE": "河北", "HI": "海南", "HK": "香港", "HL": "黑龙江",
    "HN": "湖南", "JL": "吉林", "JS": "江苏", "JX": "江西", "LN": "辽宁", "MO": "澳门", "NM": "内蒙古",
    "NX": "宁夏", "QH": "青海", "SC": "四川", "SD": "山东", "SH": "上海", "SN": "陕西", "SX": "山西",
    "TJ": "天津", "TW": "台湾", "XJ": "新疆", "XZ": "西藏", "YN": "云南", "ZJ": "浙江",
}
_SUFFIX = re.compile(r"^[A-Z0-9]{1,3}$")


def cn_province(text: str) -> str | None:
    """The ISO 3166-2:CN suffix (``"ZJ"``) of a province written in Chinese or as its code."""
    text = (text or "").strip()
    upper = text.upper().removeprefix("CN-")
    if upper in CN_PROVINCES:
        return upper
    return next((code for code, name in CN_SHORT_NAMES.items() if text.startswith(name)), None)


def subdivision_code(country: str, region: str) -> str:
    """``"CN-ZJ"`` for ``("CN", "浙江省")``, ``"US-NY"`` for ``("US", "NY")`` or ``("US", "US-NY")``;
    ``""`` when the written region names no subdivision this module knows."""
    country, text = (country or "").strip().upper(), (region or "").strip()
    if not country or not text:
        return ""
    if country == "CN":
        code = cn_province(text)
        return f"CN-{code}" if code else ""
    suffix = text.removeprefix(country + "-")
    return f"{country}-{suffix}" if _SUFFIX.match(suffix) else ""
