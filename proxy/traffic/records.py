"""Turn one exchange the proxy served into a capture record that holds no secret.

A capture record must be replayable, so unlike a mismatch record it keeps request bodies as
bytes (multipart uploads included), not as a view. Every field is still redacted before it is
stored (:mod:`proxy.shadow.redaction` plus what this module adds for bodies):

- headers: credential headers (``authorization``, ``cookie``, ``set-cookie``, ...) and
  secret-named ones become ``[REDACTED]``; any JWT or ``Bearer``/``Basic`` value elsewhere too;
- the path and the query string: JWTs, ``Bearer`` strings and secret-named parameters;
- JSON bodies (requests and responses): secret-named fields at any depth (``password``,
  ``access_token``, ``refresh_token``, ``*_token``, ``secret``...) and JWTs in any string;
- form bodies: secret-named fields; multipart bodies: secret-named parts and JWTs in any part;
- text, truncated or malformed JSON: ``"password": "..."`` pairs, ``password=`` pairs, JWTs.

The caller's credential is never kept; its *role* is (read from the token by a ``role_of``
callable the composition supplies, which verifies it), so a replay can authenticate with a
token of the same role. Most bodies hold none of the words redaction looks for: a quick
case-insensitive scan for them decides whether a body needs the full (parsing) pass at all.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from proxy.shadow.capture import CapturedResponse, header_value
from proxy.shadow.redaction import (
    REDACTED,
    SECRET_HEADERS,
    is_secret_name,
    redact_query,
    redact_text,
)

__all__ = [
    "AUTH_INVALID",
    "AUTH_NONE",
    "AUTH_OTHER",
    "AUTH_ROLE",
    "Exchange",
    "body_view",
    "build_capture",
    "decode_body",
    "redact_body",
]

AUTH_NONE, AUTH_ROLE, AUTH_INVALID, AUTH_OTHER = "none", "role", "invalid", "other"

# Lower-cased fragments without which no redaction rule can fire (a superset of what the rules
# look for; "\\u" because a JSON key may be written with escapes). Substring tests of the
# lower-cased text are much cheaper than the parsing pass (and than one alternation regex),
# and most bodies and headers hold none of them.
_MARKERS = (
    b"pass", b"pwd", b"secret", b"token", b"api", b"auth", b"cookie", b"credential",
    b"private", b"jti", b"sid", b"eyj", b"bearer", b"basic", b"\\u",
)  # fmt: skip
_TEXT_MARKERS = tuple(m.decode() for m in _MARKERS)
_JSON_PAIR = re.compile(r'"((?:[^"\\]|\\.){1,64})"(\s*:\s*)"(?:[^"\\]|\\.)*"')
_MULTIPART_PART = re.compile(
    r'(name="([^"]{1,128})"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)(.*?)(?=\r\n--)', re.DOTALL
)


def _needs_redaction(data: bytes) -> bool:
    lowered = data.lower()
    for marker in _MARKERS:  # noqa: SIM110 - a loop: any() over a generator costs 3x here
        if marker in lowered:
            return True
    return False


def _text_needs_redaction(text: str) -> bool:
    lowered = text.lower()
    for marker in _TEXT_MARKERS:  # noqa: SIM110 - as above
        if marker in lowered:
            return True
    return False


@functools.lru_cache(maxsize=1024)
def _secret_header(name: str) -> bool:
    return name in SECRET_HEADERS or is_secret_name(name)


def _redact_loose_text(text: str) -> str:
    """Redact free text that may hold JSON-looking pairs (truncated or malformed JSON)."""

    def pair(match: re.Match[str]) -> str:
        if is_secret_name(match.group(1)):
            return f'"{match.group(1)}"{match.group(2)}"{REDACTED}"'
        return match.group(0)

    return redact_text(_JSON_PAIR.sub(pair, text))


def _redact_json_deep(value: Any) -> Any:
    """Redact a JSON value: secret-named keys, and strings as loose text (JSON inside a string)."""
    if isinstance(value, dict):
        return {
            k: REDACTED if is_secret_name(str(k)) and v is not None else _redact_json_deep(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_json_deep(v) for v in value]
    if isinstance(value, str) and _text_needs_redaction(value):
        return _redact_loose_text(value)
    return value


def _redact_multipart(text: str) -> str:
    def part(match: re.Match[str]) -> str:
        if is_secret_name(match.group(2)):
            return match.group(1) + REDACTED
        return match.group(0)

    return _redact_loose_text(_MULTIPART_PART.sub(part, text))


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def redact_body(content_type: str | None, body: bytes) -> tuple[bytes, bool]:
    """Return the body with its secrets replaced, and whether anything was replaced."""
    if not body:
        return body, False
    media = _media(content_type)
    form = media in ("application/x-www-form-urlencoded", "multipart/form-data")
    if not form and not _needs_redaction(body):
        return body, False
    if media == "application/json" or media.endswith("+json"):
        try:
            value = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            pass
        else:
            clean = _redact_json_deep(value)
            if clean == value:
                return body, False
            compact = b'":' in body or b'",' in body
            separators = (",", ":") if compact else (", ", ": ")
            return json.dumps(clean, ensure_ascii=False, separators=separators).encode(), True
    if media == "application/x-www-form-urlencoded":
        text = body.decode("latin-1")
        pairs = parse_qsl(text, keep_blank_values=True)
        if not any(is_secret_name(k) or redact_text(v) != v for k, v in pairs):
            return body, False
        return redact_query(text).encode("latin-1", "replace"), True
    # Latin-1 maps every byte to one character and back: binary content survives untouched.
    text = body.decode("latin-1")
    if media == "multipart/form-data":
        clean_text = _redact_multipart(text)
    else:
        clean_text = _redact_loose_text(text)
    if clean_text == text:
        return body, False
    return clean_text.encode("latin-1"), True


def body_view(body: bytes, *, redacted: bool = False, truncated: bool = False) -> dict[str, Any]:
    """Return the stored form of a body: UTF-8 text when it is text, else base64."""
    view: dict[str, Any] = {"size": len(body), "redacted": redacted, "truncated": truncated}
    if not body:
        return {**view, "encoding": "empty", "value": ""}
    try:
        return {**view, "encoding": "utf-8", "value": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {**view, "encoding": "base64", "value": base64.b64encode(body).decode("ascii")}


def decode_body(view: dict[str, Any] | None) -> bytes:
    """Return the bytes a stored body view holds."""
    if not view or view.get("encoding") in (None, "empty"):
        return b""
    if view["encoding"] == "base64":
        return base64.b64decode(view["value"])
    return str(view["value"]).encode("utf-8")


def _clean_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[list[str]]:
    cleaned = []
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if _secret_header(name):
            value = REDACTED
        elif _text_needs_redaction(value):
            value = _redact_loose_text(value)
        cleaned.append([name, value])
    return cleaned


def _clean_text(text: str) -> str:
    return _redact_loose_text(text) if _text_needs_redaction(text) else text


def _clean_query(query: str) -> str:
    if not query or (not _text_needs_redaction(query) and "%" not in query):
        return query
    return redact_query(query)


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the dispatcher hands over: the raw request and the primary's bounded answer."""

    at: float
    route: str
    side: str
    method: str
    raw_path: bytes
    query_string: bytes
    headers: Sequence[tuple[bytes, bytes]]
    body: bytes
    response: CapturedResponse
    body_limit: int


def _auth(
    headers: Sequence[tuple[bytes, bytes]], role_of: Callable[[str], str | None]
) -> dict[str, Any]:
    value = header_value(headers, "authorization")
    if value is None:
        return {"kind": AUTH_NONE, "role": None}
    scheme, _, credential = value.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return {"kind": AUTH_OTHER, "role": None}
    try:
        role = role_of(credential.strip())
    except Exception:  # a verifier that raises means "not a usable token", never a crash
        role = None
    if role is None:
        return {"kind": AUTH_INVALID, "role": None}
    return {"kind": AUTH_ROLE, "role": str(role)}


def _at(seconds: float) -> str:
    whole = time.gmtime(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", whole) + f".{int(seconds % 1 * 1000):03d}Z"


def build_capture(exchange: Exchange, role_of: Callable[[str], str | None]) -> dict[str, Any]:
    """Return the redacted, JSON-ready capture record of one exchange."""
    headers = exchange.headers
    body, body_redacted = redact_body(header_value(headers, "content-type"), exchange.body)
    response = exchange.response
    limit = exchange.body_limit
    answer = response.body[:limit]
    truncated = response.truncated or len(response.body) > limit
    answer, answer_redacted = redact_body(response.content_type, answer)
    return {
        "at": _at(exchange.at),
        "route": exchange.route,
        "side": exchange.side,
        "auth": _auth(headers, role_of),
        "request": {
            "method": exchange.method,
            "path": _clean_text(exchange.raw_path.decode("latin-1")),
            "query": _clean_query(exchange.query_string.decode("latin-1")),
            "headers": _clean_headers(headers),
            "body": body_view(body, redacted=body_redacted),
        },
        "response": {
            "status": response.status,
            "headers": _clean_headers(response.headers),
            "body": body_view(answer, redacted=answer_redacted, truncated=truncated),
        },
    }
