"""Strip secrets from anything the proxy keeps: headers, JSON, forms, query strings, free text.

Mismatch records hold real requests and responses, and they are listed over the admin API and
the CLI, so nothing that could let a reader act as someone else may survive in them:
credentials headers, cookies, passwords, tokens. Redaction is by name (headers, JSON keys, form
and query fields) and, as a net under that, by shape: any JWT-looking or ``Bearer`` string
anywhere in free text is replaced too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from proxy.shadow.names import DRY_RUN_HEADER

__all__ = [
    "REDACTED",
    "SECRET_HEADERS",
    "is_secret_name",
    "redact_headers",
    "redact_json",
    "redact_query",
    "redact_target",
    "redact_text",
]

REDACTED = "[REDACTED]"

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-csrf-token",
        DRY_RUN_HEADER.decode("latin-1"),
    }
)

# Field names (compared case-insensitively, with -/_ treated alike) whose values are secrets.
_SECRET_NAMES = re.compile(
    r"(^|_)(password|passwd|pwd|secret|token|access_token|refresh_token|id_token|api_key|"
    r"apikey|authorization|cookie|credentials?|private_key|client_secret|jti|sid)($|_)"
)
_JWT_ANYWHERE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_FORM_SECRET = re.compile(r"(?i)((?:^|[&\s\"'])(?:password|[a-z_]*token|secret)=)[^&\s\"']*")
# A JSON member quoted inside free text (a body echoed into a message, JSON kept as a string):
# ``"password": "..."``, the value up to its closing quote, escaped quotes included.
_JSON_SECRET = re.compile(
    r'(?i)("(?:password|passwd|secret|client_secret|[a-z_]*token)"\s*:\s*")((?:[^"\\]|\\.)*)"'
)


# In a URL (a path, a query string, a log line quoting one): a JWT, a long opaque token (32 or
# more base64url characters mixing upper case, lower case and digits, as secrets.token_urlsafe
# makes; a hex id or an upper-case job name does not mix all three), and a query parameter with
# a secret's name.
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])")
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#\s\"']+)=([^&;#\s\"']*)")
_UPPER, _LOWER, _DIGIT = re.compile(r"[A-Z]"), re.compile(r"[a-z]"), re.compile(r"[0-9]")


# Names that match the pattern above but carry no secret.
_NOT_SECRET = frozenset({"token_type"})


def is_secret_name(name: str) -> bool:
    """Tell whether a field called ``name`` holds a secret (``password``, ``refresh_token``...)."""
    key = name.strip().lower().replace("-", "_")
    return key not in _NOT_SECRET and bool(_SECRET_NAMES.search(key))


def redact_text(text: str) -> str:
    """Replace JWTs, ``Bearer``/``Basic`` credentials and password pairs in free text.

    A pair is ``password=...`` (a form or query quoted in text) or ``"password": "..."`` (a JSON
    member inside a string, which :func:`redact_json` cannot see by key).
    """
    text = _JWT_ANYWHERE.sub(REDACTED, text)
    if '"' in text:
        text = _JSON_SECRET.sub(lambda m: f'{m.group(1)}{REDACTED}"', text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _FORM_SECRET.sub(lambda m: m.group(1) + REDACTED, text)


def redact_json(value: Any) -> Any:
    """Return a copy of a JSON value with secret fields replaced and free text scrubbed."""
    if isinstance(value, dict):
        return {
            k: REDACTED if is_secret_name(str(k)) and v is not None else redact_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_headers(headers: Iterable[tuple[bytes | str, bytes | str]]) -> list[list[str]]:
    """Return headers as ``[name, value]`` pairs with credential headers' values replaced."""
    redacted = []
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name
        value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
        name = name.lower()
        secret = name in SECRET_HEADERS or is_secret_name(name)
        redacted.append([name, REDACTED if secret else redact_text(value)])
    return redacted


def redact_query(query: str) -> str:
    """Return a query string with secret parameters' values replaced."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(
        [(k, REDACTED if is_secret_name(k) else redact_text(v)) for k, v in pairs], safe="[]"
    )


def _opaque(match: re.Match[str]) -> str:
    run = match.group(0)
    if _UPPER.search(run) and _LOWER.search(run) and _DIGIT.search(run):
        return REDACTED
    return run


def _query_pair(match: re.Match[str]) -> str:
    separator, name, value = match.groups()
    if value and is_secret_name(name):
        return f"{separator}{name}={REDACTED}"
    return match.group(0)


def redact_target(text: str) -> str:
    """Replace bearer-like values in a request target (path and query) or a line quoting one.

    ``/x/eyJhbGciOi...`` becomes ``/x/[REDACTED]``, ``?token=abc&page=2`` becomes
    ``?token=[REDACTED]&page=2``; a path of ordinary ids and names is returned unchanged.
    """
    if not text:
        return text
    if "=" in text:
        text = _QUERY_PAIR.sub(_query_pair, text)
    if "eyJ" in text:
        text = _JWT_ANYWHERE.sub(REDACTED, text)
    if len(text) >= 32:
        text = _LONG_TOKEN.sub(_opaque, text)
    return text
