"""The uvicorn options ``resync-strangler serve`` runs the proxy with, from its settings.

Two of uvicorn's defaults are wrong for a public front:

* ``proxy_headers=True`` with ``forwarded_allow_ips="127.0.0.1"``: any client on the same host
  (or anything connecting through a local tunnel) may send ``X-Forwarded-For`` and become
  whatever address it likes. The login lockout counts failures per (user, address), the canary
  buckets anonymous callers by address, and the logs record it, so the header buys unlimited
  password guesses and a chosen canary side. Forwarded headers are believed only from the
  addresses in ``STRANGLER_FORWARDED_ALLOW_IPS`` (empty: from nobody, and uvicorn's middleware
  is not even installed).
* No bound on the request head. The proxy's :class:`~proxy.limits.RequestLimits` answers 431
  once a head over ``STRANGLER_MAX_HEADER_BYTES`` is parsed; with h11, uvicorn's
  ``h11_max_incomplete_event_size`` also caps what is buffered before the head is complete, at
  64 times that limit (1 MiB by default: far above it, so the problem answer is what clients
  see, h11's plain 400 only for a head nobody sends by mistake). The httptools parser (the
  default when installed) has no such option.
"""

from __future__ import annotations

from typing import Any

from proxy.settings import ProxySettings

__all__ = ["forwarded_options", "uvicorn_options"]


def forwarded_options(allow_ips: str) -> dict[str, Any]:
    """Return uvicorn's ``proxy_headers``/``forwarded_allow_ips`` for a trusted-proxy list."""
    allow_ips = ",".join(part.strip() for part in allow_ips.split(",") if part.strip())
    if not allow_ips:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": allow_ips}


def uvicorn_options(settings: ProxySettings) -> dict[str, Any]:
    """Return the keyword arguments for ``uvicorn.run``/``uvicorn.Config`` that settings fix."""
    return {
        **forwarded_options(settings.forwarded_allow_ips),
        "h11_max_incomplete_event_size": settings.max_header_bytes * 64,
    }
