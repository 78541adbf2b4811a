"""The uvicorn options ``resync-strangler serve`` runs the proxy with, from its settings.

Two of uvicorn's defaults are wrong for a public front:

* ``proxy_headers=True`` with ``forwarded_allow_ips="127.0.0.1"``: any client on the same host
  (or anything connecting through a local tunnel) may send ``X-Forwarded-For`` and become
  whatever address it likes. The login lockout counts failures per (user, address), the canary
  buckets anonymous callers by address, and the logs record it, so the header buys unlimited
  password guesses and a chosen canary side. Forwarded headers are believed only from the
  addresses in ``STRANGLER_FORWARDED_ALLOW_IPS`` (empty: from nobody, and uvicorn's middleware
  is not even installed).
* No bound on the request head. The proxy's :class:`~proxy.routing.limits.RequestLimits` answers 431
  once a head over ``STRANGLER_MAX_HEADER_BYTES`` is parsed; with h11, uvicorn's
  ``h11_max_incomplete_event_size`` also caps what is buffered before the head is complete, at
  64 times that limit (1 MiB by default: far above it, so the problem answer is what clients
  see, h11's plain 400 only for a head nobody sends by mistake). The httptools parser (the
  default when installed) has no such option: :class:`BoundedHttpToolsProtocol` counts the
  target and header bytes as the parser hands them over and, past the same cap, answers 431
  and closes the connection, so an endless header stream cannot grow a worker's memory.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from proxy.errors import HeadTooLarge
from proxy.problems import json_bytes
from proxy.settings import ProxySettings

__all__ = ["BoundedHttpToolsProtocol", "forwarded_options", "uvicorn_options"]

HEAD_BUFFER_FACTOR = 64
_HAS_HTTPTOOLS = importlib.util.find_spec("httptools") is not None


if _HAS_HTTPTOOLS:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with a cap on the bytes of one request head.

        The cap is the config's ``h11_max_incomplete_event_size`` (set by
        :func:`uvicorn_options`), so both parsers bound the head alike.
        """

        def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(config, *args, **kwargs)
            self._head_cap: int = config.h11_max_incomplete_event_size or 1024 * 1024
            self._head_bytes = 0
            self._head_refused = False

        def on_message_begin(self) -> None:
            self._head_bytes = 0
            super().on_message_begin()

        def _count(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > self._head_cap:
                self._head_refused = True
                raise HeadTooLarge  # httptools turns it into a parser error

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def send_400_response(self, msg: str) -> None:
            if not self._head_refused:
                super().send_400_response(msg)
                return
            self.logger.warning("Request head over %d bytes refused.", self._head_cap)
            body = json_bytes(
                {
                    "type": "urn:resync:problem:header-too-large",
                    "title": "Request header fields too large",
                    "status": 431,
                    "detail": f"The request headers exceed the limit of {self._head_cap} bytes.",
                    "instance": None,
                    "request_id": None,
                }
            )
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: application/problem+json\r\n"
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n"
                b"connection: close\r\n\r\n" + body
            )
            self.transport.close()


def forwarded_options(allow_ips: str) -> dict[str, Any]:
    """Return uvicorn's ``proxy_headers``/``forwarded_allow_ips`` for a trusted-proxy list."""
    allow_ips = ",".join(part.strip() for part in allow_ips.split(",") if part.strip())
    if not allow_ips:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": allow_ips}


def uvicorn_options(settings: ProxySettings) -> dict[str, Any]:
    """Return the keyword arguments for ``uvicorn.run``/``uvicorn.Config`` that settings fix."""
    options: dict[str, Any] = {
        **forwarded_options(settings.forwarded_allow_ips),
        "h11_max_incomplete_event_size": settings.max_header_bytes * HEAD_BUFFER_FACTOR,
    }
    if _HAS_HTTPTOOLS:
        options["http"] = "proxy.cli.serve:BoundedHttpToolsProtocol"
    return options
