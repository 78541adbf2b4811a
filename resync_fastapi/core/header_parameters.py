"""Parse ``value; key=value`` header parameters as RFC 9110 and RFC 2231 / RFC 5987 write them.

Uploads must be named exactly as the legacy app names them, and the legacy app reads a part's
``Content-Disposition`` with Werkzeug's option parser, which (unlike python-multipart, behind
Starlette's form parser) understands ``filename*=UTF-8''notes.txt`` and ``key*0=`` / ``key*1=``
continuations. These are the same rules, applied in the same order:

- a parameter is a token key, ``=``, then a token or a quoted string; anything else up to the
  next ``;`` is skipped; keys are lowercased;
- ``key*=charset'lang'value`` is percent-decoded when the charset is ASCII, UTF-8 or ISO-8859-1
  (invalid bytes become U+FFFD); any other charset, or a value that is not in that form, is
  kept as written (quotes included);
- a plain value loses its quotes and backslash escapes, and ``%22`` becomes ``"``;
- ``key*0=``, ``key*1=``... are joined in the order they appear and replace a plain ``key``;
  a later plain ``key`` drops them; otherwise the last occurrence of a key wins.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["parse_header_parameters"]

_KEY = re.compile(r"([\w!#$%&'*+\-.^`|~]+)=", re.ASCII)
_TOKEN = re.compile(r"[\w!#$%&'*+\-.^`|~]+", re.ASCII)
_MARK = re.compile(r"(?:\*(\d+))?(\*)?$", re.ASCII)
_CHARSET_VALUE = re.compile(
    r"([\w!#$%&*+\-.^`|~]*)'[\w!#$%&*+\-.^`|~]*'([\w!#$%&'*+\-.^`|~]+)$", re.ASCII
)
_DELIMITER = re.compile(r";[ \t]*")
_ESCAPE = re.compile(r"\\(.)", re.ASCII)
_CHARSETS = frozenset({"ascii", "us-ascii", "utf-8", "iso-8859-1"})


def _unquote(value: str) -> str:
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return _ESCAPE.sub(r"\g<1>", value[1:-1])
    return value


def _raw_parameters(rest: str) -> list[tuple[str, str]]:
    """The ``(key, value as written)`` pairs of well-formed parameters, in order."""
    found: list[tuple[str, str]] = []
    position, length = 0, len(rest)
    while position < length:
        if (key := _KEY.match(rest, position)) is not None:
            name = key.group(1).lower()
            position = key.end()
            if (token := _TOKEN.match(rest, position)) is not None:
                found.append((name, token.group()))
            elif rest.startswith('"', position):
                end = position + 1
                while end < length:
                    if rest.startswith(("\\\\", '\\"'), end):
                        end += 2
                    elif rest.startswith('"', end):
                        end += 1
                        found.append((name, rest[position:end]))
                        position = end
                        break
                    else:
                        end += 1
                else:  # an unterminated quoted string ends the parameters
                    break
        if (delimiter := _DELIMITER.search(rest, position)) is None:
            break
        position = delimiter.end()
    return found


def parse_header_parameters(header: str) -> tuple[str, dict[str, str]]:
    """Split ``header`` into its value and its decoded parameters (lowercase keys)."""
    value, _, rest = header.partition(";")
    value, rest = value.strip(" \t"), rest.strip(" \t")
    if not value or not rest:
        return value, {}
    options: dict[str, str] = {}
    continuations: dict[str, list[str]] = {}
    continuation_charsets: dict[str, str] = {}
    for key, raw in _raw_parameters(rest):
        charset: str | None = None
        mark = _MARK.search(key)
        continued = extended = False
        if mark is not None and mark.end() > mark.start():
            continued, extended = mark.group(1) is not None, mark.group(2) is not None
            key = key[: mark.start()]
        if extended:
            if (encoded := _CHARSET_VALUE.match(raw)) is not None:
                charset, raw = encoded.group(1).lower(), encoded.group(2)
            if not charset and continued:
                charset = continuation_charsets.get(key)
            if charset in _CHARSETS:
                raw = unquote(raw, encoding=charset)
        else:
            raw = _unquote(raw).replace("%22", '"')
        if continued:
            options.pop(key, None)
            continuations.setdefault(key, []).append(raw)
            if charset:
                continuation_charsets[key] = charset
        else:
            if continuations.pop(key, None) is not None:
                continuation_charsets.pop(key, None)
            options[key] = raw
    options.update({key: "".join(parts) for key, parts in continuations.items()})
    return value, options
