"""Validate inputs and report failures with the codes and messages of docs/api.md.

Pydantic does the work; the constrained types below raise :class:`PydanticCustomError` with the
project's own codes (``too_short``, ``out_of_range``, ``invalid_choice``...) so
:func:`field_errors` only has to translate the few built-in error types that remain (missing,
wrong type). Body errors come first in model order, then query, then path parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic_core import PydanticCustomError

from resync_fastapi.core.exceptions import FieldError

__all__ = [
    "CONTROL_CHARACTERS",
    "CONTROL_CLASS",
    "SPACE_CLASS",
    "bounded_text",
    "choice",
    "field_errors",
    "has_unpaired_surrogate",
    "int_range",
    "pattern",
    "query_integer",
    "regex_class",
    "unpaired_surrogate_errors",
]

# Unicode category Cc (C0, DEL and C1) except newline and tab.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_TYPE_MESSAGES = {
    "string_type": "Expected a string.",
    "int_type": "Expected an integer.",
    "int_parsing": "Expected an integer.",
    "int_from_float": "Expected an integer.",
    "dict_type": "Expected an object.",
    "model_type": "Expected an object.",
    "model_attributes_type": "Expected an object.",
}
_CUSTOM_CODES = {
    "invalid_type",
    "too_short",
    "too_long",
    "out_of_range",
    "invalid_choice",
    "invalid_format",
}
_INTEGER = re.compile(r"-?[0-9]+")
# A JSON ``\\ud800`` escape that pairs with no other surrogate decodes to a code point that has
# no UTF-8 form: stored or logged, it raised UnicodeEncodeError (a 500).
_SURROGATE = re.compile("[\ud800-\udfff]")
UNPAIRED_SURROGATE_MESSAGE = "Unpaired surrogates are not allowed."
_LOCATION_ORDER = {"body": 0, "query": 1, "path": 2}


def regex_class(characters: str) -> str:
    """Spell characters as a regex class body of ``\\uXXXX`` escapes and ranges.

    Escapes read the same in JSON Schema's ECMA-262 patterns and in Python's ``re``.
    """
    codes = sorted({ord(c) for c in characters})
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in runs
    )


# For patterns in the OpenAPI document: what ``str.isspace`` (and so ``str.strip`` and ``re``'s
# ``\\s``) counts as white space, and CONTROL_CHARACTERS, spelled out (ECMA-262's ``\\s`` differs).
SPACE_CLASS = regex_class("".join(c for c in map(chr, range(0x3001)) if c.isspace()))
CONTROL_CLASS = regex_class(
    "".join(chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(c) not in "\n\t")
)


def _fail(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


def bounded_text(
    min_length: int | None = None,
    max_length: int | None = None,
    *,
    trim: bool = False,
    forbid_control: bool = False,
) -> Callable[[str], str]:
    """Return a validator checking a string's length (after trimming when ``trim``)."""

    def check(value: str) -> str:
        if trim:
            value = value.strip()
        if min_length is not None and len(value) < min_length:
            raise _fail("too_short", f"Must be at least {min_length} characters.")
        if max_length is not None and len(value) > max_length:
            raise _fail("too_long", f"Must be at most {max_length} characters.")
        if forbid_control and CONTROL_CHARACTERS.search(value):
            raise _fail("invalid_format", "Control characters are not allowed.")
        return value

    return check


def pattern(regex: str, message: str) -> Callable[[str], str]:
    """Return a validator requiring ``regex`` to match the whole string."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise _fail("invalid_format", message)
        return value

    return check


def choice(*choices: str) -> Callable[[str], str]:
    """Return a validator accepting only ``choices`` (listed in the message in this order)."""
    allowed = frozenset(choices)
    message = f"Must be one of: {', '.join(choices)}."

    def check(value: str) -> str:
        if value not in allowed:
            raise _fail("invalid_choice", message)
        return value

    return check


def int_range(minimum: int, maximum: int | None = None) -> Callable[[int], int]:
    """Return a validator for an integer within ``minimum``..``maximum``."""
    message = (
        f"Must be at least {minimum}."
        if maximum is None
        else f"Must be between {minimum} and {maximum}."
    )

    def check(value: int) -> int:
        if value < minimum or (maximum is not None and value > maximum):
            raise _fail("out_of_range", message)
        return value

    return check


def query_integer(value: Any) -> Any:
    """Parse a query-string integer the way the legacy app does (``-?[0-9]+`` only)."""
    # Query integers are plain ASCII decimals with an optional minus: pydantic alone would also
    # take "+5", " 5", "1.0" or "1_000", which the legacy app refuses.
    if isinstance(value, str):
        if not _INTEGER.fullmatch(value):
            raise _fail("invalid_type", "Expected an integer.")
        return int(value)
    return value


def _field_name(location: Sequence[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in _LOCATION_ORDER:
        parts = parts[1:]
    return ".".join(parts) or "body"


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Translate pydantic/FastAPI errors into ``{"field", "code", "message"}`` dicts."""
    ordered = sorted(
        enumerate(errors),
        key=lambda pair: (
            _LOCATION_ORDER.get(str((pair[1].get("loc") or ("body",))[0]), 0),
            pair[0],
        ),
    )
    result: list[FieldError] = []
    for _, error in ordered:
        kind = str(error.get("type", ""))
        location = tuple(error.get("loc") or ())
        if kind in _CUSTOM_CODES:
            code, message = kind, str(error.get("msg", ""))
        elif kind == "missing":
            code, message = "missing", "Field required."
        elif kind in _TYPE_MESSAGES:
            code, message = "invalid_type", _TYPE_MESSAGES[kind]
        elif kind == "json_invalid":
            code, message, location = "invalid_format", "Malformed JSON.", ("body",)
        else:
            code, message = "invalid_format", str(error.get("msg", "Invalid value."))
        result.append({"field": _field_name(location), "code": code, "message": message})
    return result


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(key) or _has_surrogate(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    return False


def has_unpaired_surrogate(value: Any) -> bool:
    """True if any string in a decoded JSON value (keys included) holds a lone surrogate."""
    return _has_surrogate(value)


def unpaired_surrogate_errors(body: Mapping[str, Any]) -> list[FieldError]:
    """One ``invalid_format`` error per top-level member holding a lone surrogate, in order.

    A member whose own name holds one is reported as ``body`` (the name cannot be echoed back
    in UTF-8 either).
    """
    errors: list[FieldError] = []
    for key, value in body.items():
        if _has_surrogate(key):
            field = "body"
        elif _has_surrogate(value):
            field = key
        else:
            continue
        error: FieldError = {
            "field": field,
            "code": "invalid_format",
            "message": UNPAIRED_SURROGATE_MESSAGE,
        }
        if error not in errors:
            errors.append(error)
    return errors
