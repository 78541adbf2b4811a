"""Check request bodies and query parameters, collecting every field error in order.

The order of checks is the contract's: content type (415), then the JSON itself, then each
body field in the order the model declares it, then the query parameters. Errors are gathered
in a :class:`FieldErrors` and raised together as one 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import request

from legacy_flask.errors import FieldError, UnsupportedMediaType, ValidationFailed

__all__ = [
    "FieldErrors",
    "read_json_object",
    "read_login_fields",
]

_INTEGER = re.compile(r"-?[0-9]+")
# A JSON ``\\ud800`` escape that pairs with no other surrogate decodes to a code point that has
# no UTF-8 form: stored, hashed or logged, it raised UnicodeEncodeError (a 500).
_SURROGATE = re.compile("[\ud800-\udfff]")
UNPAIRED_SURROGATE_MESSAGE = "Unpaired surrogates are not allowed."
_MISSING = object()
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
# The largest page offset (2**31 - 1), as docs/api.md states: a bigger integer overflowed the
# database driver's 64-bit binding (500) before it was bounded.
MAX_OFFSET = 2_147_483_647


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed(
            [{"field": "body", "code": "invalid_format", "message": "Malformed JSON."}],
            detail="The request body is not valid JSON.",
        ) from exc


def _has_body() -> bool:
    return bool(request.content_length) or bool(request.get_data(cache=True))


def read_json_object() -> dict[str, Any]:
    """Return the body as a JSON object: 415 for another content type, 400 if it is not one."""
    if request.mimetype != "application/json" and _has_body():
        raise UnsupportedMediaType("Expected application/json.")
    value = _parse_json(request.get_data(cache=True))
    if not isinstance(value, dict):
        raise ValidationFailed(
            [{"field": "body", "code": "invalid_type", "message": "Expected an object."}]
        )
    # Checked before the fields: no rule below (or the database) can handle such a string.
    surrogates = _unpaired_surrogate_errors(value)
    if surrogates:
        raise ValidationFailed(surrogates)
    return value


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(key) or _has_surrogate(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    return False


def _unpaired_surrogate_errors(body: Mapping[str, Any]) -> list[FieldError]:
    """One ``invalid_format`` error per top-level member holding a lone surrogate, in order.

    A member whose own name holds one is reported as ``body``: the name has no UTF-8 form to
    echo back either.
    """
    errors: list[FieldError] = []
    for key, item in body.items():
        if _has_surrogate(key):
            field = "body"
        elif _has_surrogate(item):
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


def read_login_fields() -> Mapping[str, Any]:
    """Return the login body: JSON, or the OAuth2 password form."""
    if request.mimetype == "application/x-www-form-urlencoded":
        return {key: request.form.get(key) for key in request.form}
    return read_json_object()


class FieldErrors:
    """Collect field errors, then raise them all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.errors.append({"field": field, "code": code, "message": message})

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)

    # Body fields -------------------------------------------------------------------------

    def string(
        self,
        body: Mapping[str, Any],
        name: str,
        *,
        required: bool = True,
        min_length: int | None = None,
        max_length: int | None = None,
        trim: bool = False,
        default: str | None = None,
    ) -> str | None:
        """Check a string field; return it (trimmed if asked) or None when it failed."""
        value = body.get(name, _MISSING)
        if value is _MISSING:
            if required:
                self.add(name, "missing", "Field required.")
            return default
        if not isinstance(value, str):
            self.add(name, "invalid_type", "Expected a string.")
            return None
        if trim:
            value = value.strip()
        if min_length is not None and len(value) < min_length:
            self.add(name, "too_short", f"Must be at least {min_length} characters.")
            return None
        if max_length is not None and len(value) > max_length:
            self.add(name, "too_long", f"Must be at most {max_length} characters.")
            return None
        return value

    def choice(
        self, body: Mapping[str, Any], name: str, choices: Sequence[str], *, required: bool = True
    ) -> str | None:
        """Check a string field whose value must be one of ``choices``."""
        value = body.get(name, _MISSING)
        if value is _MISSING:
            if required:
                self.add(name, "missing", "Field required.")
            return None
        if not isinstance(value, str):
            self.add(name, "invalid_type", "Expected a string.")
            return None
        if value not in choices:
            self.add(name, "invalid_choice", _choices_message(choices))
            return None
        return value

    # Query parameters ---------------------------------------------------------------------

    def query_int(
        self, name: str, *, default: int, minimum: int, maximum: int | None = None
    ) -> int:
        """Check an integer query parameter (the last one wins when repeated)."""
        raw = query_value(name)
        if raw is None:
            return default
        if not _INTEGER.fullmatch(raw):
            self.add(name, "invalid_type", "Expected an integer.")
            return default
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            message = (
                f"Must be at least {minimum}."
                if maximum is None
                else f"Must be between {minimum} and {maximum}."
            )
            self.add(name, "out_of_range", message)
            return default
        return value

    def query_string(
        self,
        name: str,
        *,
        required: bool = False,
        min_length: int | None = None,
        max_length: int | None = None,
    ) -> str | None:
        """Check a free-text query parameter."""
        raw = query_value(name)
        if raw is None:
            if required:
                self.add(name, "missing", "Field required.")
            return None
        if min_length is not None and len(raw) < min_length:
            self.add(name, "too_short", f"Must be at least {min_length} characters.")
            return None
        if max_length is not None and len(raw) > max_length:
            self.add(name, "too_long", f"Must be at most {max_length} characters.")
            return None
        return raw

    def query_choice(self, name: str, choices: Sequence[str], *, default: str | None) -> str | None:
        """Check a query parameter whose value must be one of ``choices``."""
        raw = query_value(name)
        if raw is None:
            return default
        if raw not in choices:
            self.add(name, "invalid_choice", _choices_message(choices))
            return default
        return raw

    def pagination(self) -> tuple[int, int]:
        """Check ``limit`` (1..100, default 50) and ``offset`` (0..2**31-1, default 0)."""
        limit = self.query_int("limit", default=DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
        offset = self.query_int("offset", default=0, minimum=0, maximum=MAX_OFFSET)
        return limit, offset


def query_value(name: str) -> str | None:
    """Return a query parameter's last value (repeated parameters: the last one wins)."""
    values = request.args.getlist(name)
    return values[-1] if values else None


def _choices_message(choices: Iterable[str]) -> str:
    return f"Must be one of: {', '.join(choices)}."
