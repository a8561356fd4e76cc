"""A pydantic validation error as the one line a user reads: the key, the value and what is
allowed (or, for an unknown key, the keys that are)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from clar.config.sections import Params
from clar.errors import ClarError, invalid, unknown_key


def _key(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _field_names(loc: tuple) -> list[str]:
    """The keys allowed where ``loc`` points (the fields of the section that holds it)."""
    model: Any = Params
    for part in loc[:-1]:
        is_section = isinstance(model, type) and issubclass(model, BaseModel)
        fields = model.model_fields if is_section else {}
        if part in fields:  # else a list index or a key of a mapping such as datasets:
            annotation = fields[part].annotation
            args = getattr(annotation, "__args__", ())
            model = args[-1] if args and isinstance(args[-1], type) else annotation
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [n for n, f in model.model_fields.items() if not f.exclude and n != "name"]
    return []


_ALLOWED = {
    "greater_than": lambda c: f"> {c['gt']:g}",
    "greater_than_equal": lambda c: f">= {c['ge']:g}",
    "less_than": lambda c: f"< {c['lt']:g}",
    "less_than_equal": lambda c: f"<= {c['le']:g}",
    "literal_error": lambda c: c["expected"].replace("'", "").replace(" or ", ", "),
    "too_short": lambda c: f"at least {c['min_length']} item(s)",
}
_TYPES = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
}


def one_line(error: ValidationError, source: Path) -> ClarError:
    """The first problem of a validation error as one line: key, value, what is allowed."""
    first = error.errors()[0]
    loc, kind = first["loc"], first["type"]
    key = _key(loc)
    if kind == "missing":
        return ClarError(f"{source}: missing key {key}")
    if kind == "extra_forbidden":
        return unknown_key(source, key, _field_names(loc))
    if kind == "literal_error" and loc[-1] == "[key]":  # a mapping keyed by names: grid.fractions
        allowed = _ALLOWED[kind](first["ctx"]).split(", ")
        return unknown_key(source, _key(loc[:-1]), allowed)
    if kind in _ALLOWED:
        allowed = _ALLOWED[kind](first.get("ctx", {}))
    else:
        allowed = _TYPES.get(kind, first["msg"])
    return invalid(source, key, first["input"], allowed)
