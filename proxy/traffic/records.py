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

:func:`build_capture` is the reference: the record of one exchange. The capture writer goes
through :class:`CaptureRows`, which builds each distinct exchange's record once (by
:func:`build_capture`'s own steps) and hands the store a :class:`PreparedCapture`: the record
without its time and request ids, shared, plus the row's own fields; :func:`rebuild` turns them
back into exactly the record :func:`build_capture` makes (a randomized test holds it to that).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from proxy.clock import format_epoch_ms
from proxy.shadow.capture import CapturedResponse, TeedResponse
from proxy.shadow.redaction import (
    REDACTED,
    SECRET_HEADERS,
    is_secret_name,
    redact_json,
    redact_query,
    redact_text,
)

__all__ = [
    "AUTH_INVALID",
    "AUTH_NONE",
    "AUTH_OTHER",
    "AUTH_ROLE",
    "VOLATILE_HEADER",
    "CaptureRows",
    "Exchange",
    "PreparedCapture",
    "body_view",
    "build_capture",
    "decode_body",
    "rebuild",
    "redact_body",
]

AUTH_NONE, AUTH_ROLE, AUTH_INVALID, AUTH_OTHER = "none", "role", "invalid", "other"

# Lower-cased fragments without which no redaction rule can fire: a superset of what the rules
# look for, kept precise enough that ordinary words ("inside", "api", "authentication") do not
# send a body through the parsing pass. Each entry covers:
# - secret names (proxy.redaction.is_secret_name: a segment of a lower-cased name, "-" as "_"):
#   "passw" (password, passwd), "secret", "token", "cookie", "credential", "authorization",
#   "api_key"/"api-key"/"apikey", "private_key"/"private-key"; "pwd", "jti" and "sid" only as a
#   whole segment (no ASCII letter or digit either side, checked by _short_word);
# - redact_text's shapes: JWTs ("eyJ", case-sensitive in the rule, matched here lower-cased),
#   "bearer" / "basic" credentials, password=/token=/secret= pairs (covered by the words);
# - "\\u": a JSON escape can spell any of the above;
# - the UTF-8 of the four non-ASCII letters that match ASCII ones case-insensitively (U+0130,
#   U+0131, U+017F, U+212A: "(?i)basic" matches "ba\u017fic", and str.lower() turns U+212A into
#   "k" in a name), which bytes.lower() leaves alone.
# Substring tests of the lower-cased text are much cheaper than one alternation regex.
_MARKERS = (
    b"passw", b"secret", b"token", b"cookie", b"credential", b"authorization", b"api_key",
    b"api-key", b"apikey", b"private_key", b"private-key", b"eyj", b"bearer", b"basic", b"\\u",
)  # fmt: skip
_NON_ASCII_MARKERS = tuple(c.encode() for c in "\u0130\u0131\u017f\u212a")  # ASCII text: skipped
_SHORT_WORDS = (b"pwd", b"jti", b"sid")
_TEXT_MARKERS = tuple(m.decode() for m in _MARKERS)
_TEXT_NON_ASCII_MARKERS = tuple(m.decode() for m in _NON_ASCII_MARKERS)
_TEXT_SHORT_WORDS = tuple(w.decode() for w in _SHORT_WORDS)
_JSON_PAIR = re.compile(r'"((?:[^"\\]|\\.){1,64})"(\s*:\s*)"(?:[^"\\]|\\.)*"')
_MULTIPART_PART = re.compile(
    r'(name="([^"]{1,128})"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)(.*?)(?=\r\n--)', re.DOTALL
)
_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")
_TEXT_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _short_word(lowered: Any, word: Any, alnum: frozenset[Any], backslash: Any) -> bool:
    """Tell whether ``word`` occurs in ``lowered`` with no ASCII letter or digit either side.

    A letter that ends a JSON escape (``\\n`` in ``"\\nsid"``, which json.loads makes a newline
    that is_secret_name strips) counts as no letter.
    """
    at = lowered.find(word)
    size = len(word)
    while at >= 0:
        if (
            at == 0 or lowered[at - 1] not in alnum or (at >= 2 and lowered[at - 2] == backslash)
        ) and (at + size >= len(lowered) or lowered[at + size] not in alnum):
            return True
        at = lowered.find(word, at + 1)
    return False


def _needs_redaction(data: bytes) -> bool:
    lowered = data.lower()
    for marker in _MARKERS:
        if marker in lowered:
            return True
    if not data.isascii():
        for marker in _NON_ASCII_MARKERS:
            if marker in data:
                return True
    for word in _SHORT_WORDS:  # noqa: SIM110 - loops: any() over a generator costs 3x here
        if word in lowered and _short_word(lowered, word, _ALNUM, 92):
            return True
    return False


def _text_needs_redaction(text: str) -> bool:
    lowered = text.lower()
    for marker in _TEXT_MARKERS:
        if marker in lowered:
            return True
    if not text.isascii():
        for marker in _TEXT_NON_ASCII_MARKERS:
            if marker in lowered:
                return True
    for word in _TEXT_SHORT_WORDS:
        if word in lowered and _short_word(lowered, word, _TEXT_ALNUM, "\\"):
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
    return redact_json(value, _clean_text)


def _redact_multipart(text: str) -> str:
    def part(match: re.Match[str]) -> str:
        if is_secret_name(match.group(2)):
            return match.group(1) + REDACTED
        return match.group(0)

    return _redact_loose_text(_MULTIPART_PART.sub(part, text))


class KnownBodies:
    """Remember bodies that hold no redaction marker (bounded by count and by size).

    An app's cached answer comes back byte for byte (``GET /api/v1/agents`` behind a page
    cache): one hash and one comparison then replace the marker scan. Only bodies that passed
    the scan are kept, so a body is never taken as clean because it looks like one.
    """

    __slots__ = ("_known", "longest", "size")

    def __init__(self, *, size: int = 64, longest: int = 16 * 1024) -> None:
        self._known: dict[bytes, None] = {}
        self.size = size
        self.longest = longest

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, body: bytes) -> bool:
        return len(body) <= self.longest and body in self._known

    def add(self, body: bytes) -> None:
        """Keep ``body`` (it passed the scan), the oldest out first when full."""
        known = self._known
        if len(body) > self.longest or body in known:
            return
        while len(known) >= self.size:
            try:
                known.pop(next(iter(known)), None)
            except (StopIteration, RuntimeError):  # another thread changed it meanwhile
                break
        known[bytes(body)] = None


_clean_bodies = KnownBodies()


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def redact_body(content_type: str | None, body: bytes) -> tuple[bytes, bool]:
    """Return the body with its secrets replaced, and whether anything was replaced."""
    if not body:
        return body, False
    media = _media(content_type)
    form = media in ("application/x-www-form-urlencoded", "multipart/form-data")
    if not form and (body in _clean_bodies or not _needs_redaction(body)):
        _clean_bodies.add(body)
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
    if not body:
        encoding, value = "empty", ""
    else:
        try:
            encoding, value = "utf-8", body.decode("utf-8")
        except UnicodeDecodeError:
            encoding, value = "base64", base64.b64encode(body).decode("ascii")
    return {
        "size": len(body),
        "redacted": redacted,
        "truncated": truncated,
        "encoding": encoding,
        "value": value,
    }


def decode_body(view: dict[str, Any] | None) -> bytes:
    """Return the bytes a stored body view holds."""
    if not view or view.get("encoding") in (None, "empty"):
        return b""
    if view["encoding"] == "base64":
        return base64.b64decode(view["value"])
    return str(view["value"]).encode("utf-8")


def _clean_text(text: str) -> str:
    return _redact_loose_text(text) if _text_needs_redaction(text) else text


def _clean_query(query: str) -> str:
    if not query or (not _text_needs_redaction(query) and "%" not in query):
        return query
    return redact_query(query)


class CleanCache:
    """Remember the decoded form of raw values that needed no redaction (bounded).

    Clients send the same header values, paths and queries again and again (host, user agent,
    the app's content type): a value seen before costs one dict lookup instead of a decode and
    a scan. Only values that ``clean`` returns unchanged are kept, so the cache never holds a
    secret (a changed value, or a new one, goes through ``clean`` again); values longer than
    ``longest`` bytes are not kept, and at most ``size`` are (the oldest goes first).
    """

    __slots__ = ("_clean", "_known", "longest", "size")

    def __init__(self, clean: Callable[[str], str], *, size: int = 1024, longest: int = 512):
        self._clean = clean
        self._known: dict[bytes, str] = {}
        self.size = size
        self.longest = longest

    def __len__(self) -> int:
        return len(self._known)

    def __call__(self, raw: bytes) -> str:
        known = self._known.get(raw)
        if known is not None:
            return known
        text = raw.decode("latin-1")
        clean = self._clean(text)
        if clean == text and len(raw) <= self.longest:
            known_values = self._known
            while len(known_values) >= self.size:
                try:
                    known_values.pop(next(iter(known_values)), None)
                except (StopIteration, RuntimeError):  # another thread changed it meanwhile
                    break
            known_values[bytes(raw)] = text
        return clean


_clean_value = CleanCache(_clean_text)  # header values and paths: the same rules
_clean_query_value = CleanCache(_clean_query)


@functools.lru_cache(maxsize=1024)
def _header_name(raw_name: bytes) -> tuple[str, bool]:
    name = raw_name.decode("latin-1").lower()
    return name, _secret_header(name)


def _clean_headers(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[list[list[str]], str | None, str | None]:
    """Return the redacted headers, and the content type and authorization as header_value would.

    A secret-named header's value is replaced by name and never enters :class:`CleanCache`.
    """
    cleaned = []
    content_type: list[bytes] | None = None
    authorization: list[bytes] | None = None
    for raw_name, raw_value in headers:
        name, secret = _header_name(raw_name)
        if secret:
            cleaned.append([name, REDACTED])
            if name == "authorization":
                authorization = [*(authorization or ()), raw_value]
            continue
        if name == "content-type":
            content_type = [*(content_type or ()), raw_value]
        cleaned.append([name, _clean_value(raw_value)])
    return cleaned, _joined(content_type), _joined(authorization)


def _joined(values: list[bytes] | None) -> str | None:
    if values is None:
        return None
    if len(values) == 1:
        return values[0].decode("latin-1").strip()
    return ", ".join([v.decode("latin-1").strip() for v in values])


class Exchange(NamedTuple):
    """What the dispatcher hands over: the raw request and the primary's bounded answer.

    A named tuple, not a frozen dataclass: it is made once per captured request on the event
    loop, and a tuple costs a third of a frozen dataclass to create.
    """

    at: float
    route: str
    side: str
    method: str
    raw_path: bytes
    query_string: bytes
    headers: Sequence[tuple[bytes, bytes]]
    body: bytes
    response: CapturedResponse | TeedResponse
    body_limit: int


def _auth(value: str | None, role_of: Callable[[str], str | None]) -> dict[str, Any]:
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


def build_capture(exchange: Exchange, role_of: Callable[[str], str | None]) -> dict[str, Any]:
    """Return the redacted, JSON-ready capture record of one exchange."""
    request_headers, content_type, authorization = _clean_headers(exchange.headers)
    return _build(exchange, request_headers, content_type, _auth(authorization, role_of))


def _build(
    exchange: Exchange,
    request_headers: list[list[str]],
    content_type: str | None,
    auth: dict[str, Any],
) -> dict[str, Any]:
    body, body_redacted = redact_body(content_type, exchange.body)
    response = exchange.response
    response_headers, answer_type, _ = _clean_headers(response.headers)
    limit = exchange.body_limit
    answer = response.body[:limit]
    truncated = response.truncated or len(response.body) > limit
    answer, answer_redacted = redact_body(answer_type, answer)
    return {
        "at": format_epoch_ms(exchange.at),
        "route": exchange.route,
        "side": exchange.side,
        "auth": auth,
        "request": {
            "method": exchange.method,
            "path": _clean_value(exchange.raw_path),
            "query": _clean_query_value(exchange.query_string),
            "headers": request_headers,
            "body": body_view(body, redacted=body_redacted),
        },
        "response": {
            "status": response.status,
            "headers": response_headers,
            "body": body_view(answer, redacted=answer_redacted, truncated=truncated),
        },
    }


# The fast path ------------------------------------------------------------------------------
# Clients send the same request again and again (the same path, query, headers and token) and a
# route often answers it with the same bytes: the redacted record of such an exchange differs
# from the last one only in its time and in the request id the proxy stamps on it. CaptureRows
# builds (redacts, encodes) each distinct exchange once, as a *part* the store keeps once under
# its hash, and gives every later one a row of a few dozen bytes: its time, the part's hash and
# the request ids.

# The one header whose value changes with every request (routing.requestid stamps it). Only a
# value of hex digits and dashes is taken out of the part: no redaction rule can change such a
# value (every marker of _text_needs_redaction holds a letter that is no hex digit; a test
# checks), so it needs no scan; any other value stays in the part, and is redacted with it.
VOLATILE_HEADER = "x-request-id"
_SAFE_ID = re.compile(rb"[0-9A-Fa-f-]{1,64}")
SAFE_ID_TEXT = r"[0-9A-Fa-f-]{1,64}"


class PreparedCapture(NamedTuple):
    """A capture record as the store writes it: a shared part and the row's own few fields.

    ``part_text`` is the record's JSON without ``at`` and without the volatile headers (the
    same text for every exchange of the same shape), ``part`` its hash, ``extra`` the volatile
    headers as JSON: ``[[where, index, value], ...]`` with ``where`` 0 for the request's
    headers and 1 for the response's, ``index`` the header's place in its list.
    """

    at: float
    route: str
    part: str
    part_text: str
    extra: str


_PLAIN, _SECRET, _AUTHORIZATION, _VOLATILE = 0, 1, 2, 3
_kinds: dict[bytes, int] = {}


def _kind(raw_name: bytes) -> int:
    name, secret = _header_name(raw_name)
    if name == "authorization":
        kind = _AUTHORIZATION
    elif secret:
        kind = _SECRET
    elif name == VOLATILE_HEADER:
        kind = _VOLATILE
    else:
        kind = _PLAIN
    if len(_kinds) < 4096:
        _kinds[bytes(raw_name)] = kind
    return kind


def _header_key(
    headers: Sequence[tuple[bytes, bytes]], where: int, ids: list[str]
) -> tuple[tuple[Any, ...], list[bytes] | None, list[int] | None]:
    """Return what decides a header list's redacted form, its authorization values, volatile places.

    A secret-named header counts by its name only (its value is replaced whatever it is), so
    the key holds no credential; a safe request id is left out of the key and appended to
    ``ids`` as JSON text.
    """
    key: list[Any] = []
    authorization: list[bytes] | None = None
    volatile: list[int] | None = None
    kinds = _kinds
    index = -1
    for pair in headers:
        index += 1
        kind = kinds.get(pair[0])
        if kind is None:
            kind = _kind(pair[0])
        if kind == _PLAIN:
            key.append(pair)
        elif kind == _VOLATILE and _SAFE_ID.fullmatch(pair[1]):
            ids.append(f'[{where},{index},"{pair[1].decode("ascii")}"]')
            volatile = [*(volatile or ()), index]
        elif kind == _VOLATILE:
            key.append(pair)
        else:
            key.append(pair[0].lower())
            if kind == _AUTHORIZATION:
                authorization = [*(authorization or ()), pair[1]]
    return tuple(key), authorization, volatile


def _without(
    headers: Sequence[tuple[bytes, bytes]], places: list[int] | None
) -> Sequence[tuple[bytes, bytes]]:
    if not places:
        return headers
    return [pair for index, pair in enumerate(headers) if index not in places]


def _unchanged(raw: Sequence[tuple[bytes, bytes]], clean: list[list[str]]) -> bool:
    """Tell whether no header value but the secret-named ones' was changed by redaction."""
    for (raw_name, raw_value), (_, value) in zip(raw, clean, strict=True):
        if not _header_name(raw_name)[1] and value != raw_value.decode("latin-1"):
            return False
    return True


def rebuild(part_text: str, extra: str, at: float) -> dict[str, Any]:
    """Return the record a part, a row's ``extra`` and its time stand for (the store's reader)."""
    part = json.loads(part_text)
    record: dict[str, Any] = {"at": format_epoch_ms(at), **part}
    for where, index, value in json.loads(extra):
        side = record.get("request" if where == 0 else "response")
        if isinstance(side, dict) and isinstance(side.get("headers"), list):
            side["headers"].insert(int(index), [VOLATILE_HEADER, str(value)])
    return record


_UNSEEN: Any = object()


class CaptureRows:
    """Turn exchanges into store rows, building each distinct exchange's record once (bounded).

    The cache maps what decides a record (route, side, method, path, query, headers with
    secret-named values left out, bodies, status, the caller's role) to the record's part.
    Only exchanges whose path, query, header values and bodies needed no redaction are kept,
    and only while their bodies are short (``longest`` bytes together), at most ``size`` of
    them and ``budget`` bytes of bodies and parts together (the oldest goes first): the cache
    never holds a password or a token, and an exchange that differs in any byte the record
    depends on is built (and redacted) anew. The rest are returned as plain records, which the
    store writes whole.
    """

    __slots__ = ("_bytes", "_credentials", "_known", "budget", "longest", "role_of", "size")

    def __init__(
        self,
        role_of: Callable[[str], str | None],
        *,
        size: int = 512,
        longest: int = 16 * 1024,
        budget: int = 4 * 1024 * 1024,
    ) -> None:
        self.role_of = role_of
        self.size = size
        self.longest = longest
        self.budget = budget
        self._known: dict[tuple[Any, ...], tuple[str, str, int]] = {}
        self._bytes = 0
        # Authorization values -> the bearer credential in them (None: another scheme).
        self._credentials: dict[Any, str | None] = {}

    @property
    def held(self) -> int:
        """Bytes of bodies and part texts the cache holds (what its bound counts)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._known)

    def prepare(self, exchange: Exchange) -> PreparedCapture | dict[str, Any]:
        """Return the row of one exchange (or, when it is not cacheable, its whole record)."""
        ids: list[str] = []
        request_key, authorization, request_volatile = _header_key(exchange.headers, 0, ids)
        response = exchange.response
        response_key, _, response_volatile = _header_key(response.headers, 1, ids)
        kind, role = self._auth(authorization)
        limit = exchange.body_limit
        answer = response.body[:limit]
        key = (
            exchange.route, exchange.side, exchange.method, exchange.raw_path,
            exchange.query_string, request_key, exchange.body, response.status, response_key,
            answer, response.truncated or len(response.body) > limit, kind, role,
        )  # fmt: skip
        known = self._known.get(key)
        if known is None:
            auth = {"kind": kind, "role": role}
            stable = exchange._replace(
                headers=_without(exchange.headers, request_volatile),
                response=CapturedResponse(
                    response.status,
                    list(_without(response.headers, response_volatile)),
                    response.body,
                    response.truncated,
                ),
            )
            request_headers, content_type, _ = _clean_headers(stable.headers)
            record = _build(stable, request_headers, content_type, auth)
            if not self._cacheable(exchange, answer, record, stable):
                return build_capture(exchange, lambda _token: auth["role"])
            del record["at"]
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            size = len(exchange.body) + len(answer) + len(text)
            known = (hashlib.blake2b(text.encode(), digest_size=16).hexdigest(), text, size)
            self._remember(key, known)
        return PreparedCapture(
            exchange.at, exchange.route, known[0], known[1], f"[{','.join(ids)}]"
        )

    def _auth(self, authorization: list[bytes] | None) -> tuple[str, str | None]:
        """Return the caller's (kind, role) as :func:`_auth` would, the header parsed once."""
        if authorization is None:
            return AUTH_NONE, None
        raw: Any = authorization[0] if len(authorization) == 1 else tuple(authorization)
        credential = self._credentials.get(raw, _UNSEEN)
        if credential is _UNSEEN:
            scheme, _, value = (_joined(authorization) or "").partition(" ")
            credential = value.strip() if scheme.lower() == "bearer" and value.strip() else None
            if len(self._credentials) >= 4096:  # in memory only, as CachedRoles keeps tokens
                self._credentials.clear()
            self._credentials[raw] = credential
        if credential is None:
            return AUTH_OTHER, None
        try:
            role = self.role_of(credential)
        except Exception:  # a verifier that raises means "not a usable token", never a crash
            role = None
        if role is None:
            return AUTH_INVALID, None
        return AUTH_ROLE, str(role)

    def _cacheable(
        self, exchange: Exchange, answer: bytes, record: dict[str, Any], stable: Exchange
    ) -> bool:
        request, response = record["request"], record["response"]
        return (
            len(exchange.body) + len(answer) <= self.longest
            and not request["body"]["redacted"]
            and not response["body"]["redacted"]
            and request["path"] == exchange.raw_path.decode("latin-1")
            and request["query"] == exchange.query_string.decode("latin-1")
            and _unchanged(stable.headers, request["headers"])
            and _unchanged(stable.response.headers, response["headers"])
        )

    def _remember(self, key: tuple[Any, ...], known: tuple[str, str, int]) -> None:
        entries = self._known  # one writer thread uses it
        while entries and (len(entries) >= self.size or self._bytes + known[2] > self.budget):
            oldest = entries.pop(next(iter(entries)))
            self._bytes -= oldest[2]
        if known[2] <= self.budget:
            entries[key] = known
            self._bytes += known[2]
