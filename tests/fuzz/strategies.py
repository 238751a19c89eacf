"""Hypothesis strategies of bad input, derived from the API's marshmallow schemas, plus junk.

``invalid_payloads(schema, valid)`` starts from one valid payload and breaks exactly one thing
the schema must refuse: a field of the wrong type, out of its range or too long, a Mongo
operator where an id goes, a required field missing, an unknown field, junk in a nested
object. Each value is chosen so that no schema could accept it (a string where an integer
goes is avoided for lenient fields, numbers are avoided where Decimal accepts them, ...).
"""
from __future__ import annotations

import copy
from decimal import Decimal

from hypothesis import strategies as st
from marshmallow import Schema, fields, validate

from adapters.schemas import StrictBoolean

MONGO_OPERATORS = [{"$gt": ""}, {"$ne": None}, {"$where": "sleep(1000)"}, {"$regex": ".*"}, {"$in": []},
                   {"$exists": True}, {"$expr": {"$eq": [1, 1]}}]
OPERATOR_STRINGS = ["$gt", "{\"$gt\": \"\"}", "a.b", "$where", "x\x00y", "../../etc", "'; drop", "\ud7ff\ufffd"]
HUGE_NUMBERS = [10**20, -(10**20), 2**63, 1e308, -1e308, 10**400]


def junk(max_leaves: int = 8):
    """Arbitrary JSON: nulls, booleans, huge and tiny numbers, text, lists, objects, operators."""
    leaves = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
              | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=50)
              | st.sampled_from(MONGO_OPERATORS + OPERATOR_STRINGS + HUGE_NUMBERS))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=max_leaves)


def deep(depth: int, kind: str = "dict"):
    """A value nested ``depth`` levels deep."""
    value: object = 1
    for _ in range(depth):
        value = {"a": value} if kind == "dict" else [value]
    return value


def _length_max(field: fields.Field) -> int | None:
    for v in field.validators:
        if isinstance(v, validate.Length) and v.max is not None:
            return v.max
        if isinstance(v, validate.Regexp):
            return 200  # every id pattern here stops well below this
    return None


def _range(field: fields.Field) -> validate.Range | None:
    return next((v for v in field.validators if isinstance(v, validate.Range)), None)


def bad_values(field: fields.Field) -> list:
    """Values ``field`` must refuse, whatever else it accepts."""
    out: list = list(MONGO_OPERATORS[:3]) + [[1, 2]]
    if not field.allow_none:
        out.append(None)
    return out + _bad_for_type(field)


def _bad_for_type(field: fields.Field) -> list:
    """The values refused by ``field``'s type (and its length or range, if any)."""
    if isinstance(field, fields.String):
        return _bad_strings(field)
    if isinstance(field, fields.Enum):
        return ["bogus", "", 7, "PAID"]
    if isinstance(field, fields.Boolean):
        return ["maybe", 2, -1] + ([0, 1, "true"] if isinstance(field, StrictBoolean) else [])
    if isinstance(field, fields.Integer):
        return _bad_integers(field)
    if isinstance(field, fields.Decimal):
        return _bad_decimals(field)
    if isinstance(field, fields.Float):
        r = _range(field)
        return ["abc", "NaN"] + ([r.max * 1000] if r is not None and r.max is not None else [])
    if isinstance(field, (fields.AwareDateTime, fields.DateTime)):
        return ["yesterday", "2024-13-40T99:00:00Z", 1717243200, "2024-06-01T12:00:00"]
    if isinstance(field, fields.Nested):
        return ["x", 5, [{}]]
    if isinstance(field, fields.List):
        longest = _length_max(field)
        return ["x", {"a": 1}] + ([[{}] * (longest + 1)] if longest is not None else [])
    if isinstance(field, fields.Dict):
        return ["x", 5]
    return []


def _bad_strings(field: fields.String) -> list:
    out: list = [12345, 1.5, True]
    longest = _length_max(field)
    if longest is not None:
        out.append("x" * (longest + 1))
    if any(isinstance(v, validate.Regexp) for v in field.validators):
        out += ["$gt", "a.b", "", "x\x00y"]
    return out


def _bad_integers(field: fields.Integer) -> list:
    out: list = ["abc", 1.5] + ([] if not field.strict else ["5"])
    r = _range(field)
    if r is not None and r.min is not None:
        out.append(r.min - 1)
    if r is not None and r.max is not None:
        out += [r.max + 1, 10**30]
    return out


def _bad_decimals(field: fields.Decimal) -> list:
    out: list = ["abc", "NaN", "Infinity", "-Infinity", "", "1,5", [1]]
    r = _range(field)
    if r is not None and r.min is not None:
        out.append(str(Decimal(r.min) - 1))
    if r is not None and r.max is not None:
        out += [str(Decimal(r.max) * 10), "9" * 60]
    return out


def field_paths(schema: Schema, valid: dict, prefix: tuple = ()):
    """``(path, field)`` for every field of ``schema`` present in ``valid`` or declared, recursing
    into nested objects and into the first item of nested lists."""
    for name, field in schema.fields.items():
        yield prefix + (name,), field
        value = valid.get(name) if isinstance(valid, dict) else None
        if isinstance(field, fields.Nested) and isinstance(value, dict):
            yield from field_paths(field.schema, value, prefix + (name,))
        if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested) and value:
            yield from field_paths(field.inner.schema, value[0], prefix + (name, 0))


def _set(doc, path: tuple, value, delete: bool = False):
    target = doc
    for step in path[:-1]:
        target = target[step]
    if delete:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


@st.composite
def invalid_payloads(draw, schema: Schema, valid: dict):
    """``valid`` with exactly one thing broken that ``schema`` must refuse."""
    doc = copy.deepcopy(valid)
    paths = list(field_paths(schema, valid))
    how = draw(st.sampled_from(["bad_value", "bad_value", "bad_value", "missing", "unknown", "operator_key"]))
    if how == "missing":
        required = [p for p, f in paths if f.required and _present(valid, p)]
        if required:
            _set(doc, draw(st.sampled_from(required)), None, delete=True)
            return doc
        how = "unknown"
    if how in ("unknown", "operator_key"):
        parents = [()] + [p for p, f in paths if isinstance(f, fields.Nested) and _present(valid, p)]
        parent = draw(st.sampled_from(parents))
        key = draw(st.sampled_from(["$where", "$set", "unexpected"])) if how == "operator_key" else "zz_unknown"
        _set(doc, parent + (key,), draw(junk(3)))
        return doc
    path, field = draw(st.sampled_from([(p, f) for p, f in paths if _settable(valid, p)]))
    _set(doc, path, draw(st.sampled_from(bad_values(field))))
    return doc


def _present(doc, path) -> bool:
    try:
        target = doc
        for step in path:
            target = target[step]
        return True
    except (KeyError, IndexError, TypeError):
        return False


def _settable(doc, path) -> bool:
    return _present(doc, path[:-1])


NOT_TEXT = [{"$gt": ""}, {"$ne": None}, ["a"], 1.5, True, None, "", {}, []]


@st.composite
def invalid_native_events(draw, valid: dict, required: tuple[str, ...], id_keys: tuple[str, ...]):
    """A third party's event (generic WMS / carrier format, parsed leniently: numbers pass as
    text, unknown fields and words are kept) broken in a way no lenient parser may accept: a
    required field absent, empty or not text, an id that names nothing of ours, a quantity
    that is not a whole non-negative number."""
    doc = copy.deepcopy(valid)
    how = draw(st.sampled_from(["required", "required", "unknown_id", "quantity", "as_list"]))
    if how == "quantity" and doc.get("lines"):
        doc["lines"][0]["quantity"] = draw(st.sampled_from([-1, "abc", 1.5, True, {"$gt": 0}, [2]]))
    elif how == "unknown_id":
        doc[draw(st.sampled_from(id_keys))] = draw(st.sampled_from(["$gt", "O-NOPE-F1", "a.b", "x" * 300]))
    else:
        key = draw(st.sampled_from(required))
        value = draw(st.sampled_from(NOT_TEXT + ["<absent>"]))
        if value == "<absent>":
            doc.pop(key, None)
        else:
            doc[key] = value
    return [doc] if how == "as_list" else doc
