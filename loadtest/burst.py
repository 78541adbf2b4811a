"""The burst: N concurrent TWS-bound requests while TWS hangs, and another route meanwhile.

Issue 11 found the new app answering a burst of 240 ``GET /api/v1/status/jobs`` with TWS
hanging by 150 x 504 and 90 x 500 (pool timeouts: every request held a pooled connection for
its whole TWS call), the median after 26.7 s against a 2 s ``RESYNC_TWS_TIMEOUT``. This fires
such a burst at one server: the simulator is told to hang (``timeout_rate`` 1, each TWS call
sleeping ``hang`` seconds, longer than the server's TWS timeout, see docs/tws_sim.md), then
``requests`` requests start at once from one asyncio client (one connection each), while a
probe sends ``GET /api/v1/agents`` (no TWS call) every ``probe_interval`` seconds on its own
connections. Every answer is counted by status, with its time from the burst's start; an
answer the client stopped waiting for (``client_timeout``) counts by the exception's name.
The promise: no 5xx other than 504, the slowest answer within the TWS timeout + 1 s, and the
probes all answered 200 within that bound too.

The client is bare asyncio streams (one ``Connection: close`` request per connection), not an
httpx pool: the 2026-12-02 report's "second wave" (240 x 504, slowest 4.11 s, 112 answers after
3 s) was httpx's own pool bookkeeping, whose cost grows with the square of the connections in
flight: the server's log had every one of those answers sent within 2.05-2.29 s of its arrival,
and the same burst through bare streams was answered within 2.3 s. The server's side is counted
too (``server_*``, from the ``duration_ms`` of its ``request`` log lines), so a report can tell
a queue in the server from one in the client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "BurstResult",
    "BurstShot",
    "count_pool_timeouts",
    "fire_burst",
    "server_seconds",
    "summarise",
]

POOL_TIMEOUT_MARK = "QueuePool limit"


@dataclass(frozen=True, slots=True)
class BurstShot:
    """One request of a burst: its status (or the exception's name) and seconds to answer."""

    status: str
    seconds: float

    @property
    def answered(self) -> bool:
        """True when the server answered (a status code, not a client-side exception)."""
        return self.status.isdigit()


@dataclass
class BurstResult:
    """What one burst measured on one server (``app``: gunicorn or uvicorn) and database."""

    app: str
    database: str
    requests: int
    tws_timeout_s: float
    hang_s: float
    client_timeout_s: float
    route: str = "GET /api/v1/status/jobs"
    probe_route: str = "GET /api/v1/agents"
    threads: int | None = None  # gunicorn's
    statuses: dict[str, int] = field(default_factory=dict)  # "504": 150, "ReadTimeout": 2
    answered: int = 0
    slowest_s: float = 0.0
    p50_s: float = 0.0
    late: int = 0  # answers after the TWS timeout + 1 s
    waves: int = 0  # timeout-long windows the answers arrived in (1: all at once)
    probes: int = 0
    probes_ok: int = 0
    probe_statuses: dict[str, int] = field(default_factory=dict)
    probe_slowest_s: float = 0.0
    pool_timeouts: int = 0  # "QueuePool limit" lines in the server's log
    server_cpu_s: float | None = None  # the server tree's CPU seconds over the burst
    # the server's own times (its request log's duration_ms), arrival to answer; None: no log
    server_logged: int | None = None  # burst requests the server logged
    server_slowest_s: float | None = None
    server_late: int | None = None  # logged after the TWS timeout + 1 s
    error: str = ""

    @property
    def non_504_5xx(self) -> int:
        """Answers with a 5xx status other than 504 (what must never happen)."""
        return sum(
            n for s, n in self.statuses.items() if s.isdigit() and s[0] == "5" and s != "504"
        )

    @property
    def answered_all(self) -> bool:
        """True when the server answered every request of the burst."""
        return self.answered == self.requests

    def status_text(self) -> str:
        """``150 x 504, 90 x 500``, most frequent first."""
        return ", ".join(
            f"{n} x {s}" for s, n in sorted(self.statuses.items(), key=lambda i: -i[1])
        )

    def probe_status_text(self) -> str:
        """The probes' statuses, as :meth:`status_text`."""
        items = sorted(self.probe_statuses.items(), key=lambda i: -i[1])
        return ", ".join(f"{n} x {s}" for s, n in items) or "none sent"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``results.json``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BurstResult:
        """Rebuild a result from :meth:`to_json`'s dict."""
        return cls(**data)


def summarise(
    result: BurstResult,
    shots: Sequence[BurstShot],
    probes: Sequence[BurstShot],
    server: Sequence[float] | None = None,
) -> BurstResult:
    """Fill ``result``'s counts and times from the burst's and the probe's answers.

    ``server``: the seconds the server itself logged per burst request (:func:`server_seconds`).
    """
    result.statuses = dict(Counter(s.status for s in shots))
    answered = [s.seconds for s in shots if s.answered]
    result.answered = len(answered)
    every = [s.seconds for s in shots]
    result.slowest_s = max(every, default=0.0)
    result.p50_s = statistics.median(every) if every else 0.0
    bound = result.tws_timeout_s + 1.0
    result.late = sum(1 for s in shots if s.seconds > bound)
    result.waves = len({int(s.seconds // result.tws_timeout_s) for s in shots if s.answered})
    result.probes = len(probes)
    result.probes_ok = sum(1 for p in probes if p.status == "200")
    result.probe_statuses = dict(Counter(p.status for p in probes))
    result.probe_slowest_s = max((p.seconds for p in probes), default=0.0)
    if server is not None:
        result.server_logged = len(server)
        result.server_slowest_s = max(server, default=0.0)
        result.server_late = sum(1 for seconds in server if seconds > bound)
    return result


def server_seconds(log_text: str, path: str = "/api/v1/status/jobs") -> list[float]:
    """Seconds from arrival to answer of each ``path`` request in a server's JSON log.

    The FastAPI app logs every request as ``{"event": "request", "path": ..., "duration_ms":
    ...}`` (``resync_fastapi/core/logging.py``); lines of another shape are skipped.
    """
    seconds = []
    for line in log_text.splitlines():
        if '"request"' not in line or path not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        duration = entry.get("duration_ms")
        if (
            entry.get("event") == "request"
            and entry.get("path") == path
            and isinstance(duration, int | float)
        ):
            seconds.append(float(duration) / 1000)
    return seconds


class _Refused(Exception):
    """The server closed the connection without a status line."""


async def _get(host: str, port: int, path: str, token: str, wait_s: float) -> str:
    """One ``GET`` on its own connection; its status, or the exception's name."""

    async def exchange() -> str:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            status_line = await reader.readline()
            await reader.read()  # the rest of the answer, until the server closes
        finally:
            writer.close()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise _Refused()
        return parts[1].decode("ascii")

    try:
        async with asyncio.timeout(wait_s):
            return await exchange()
    except TimeoutError:
        return "ReadTimeout"
    except (OSError, _Refused, asyncio.IncompleteReadError) as exc:
        return type(exc).__name__


async def _shot(
    host: str, port: int, path: str, token: str, wait_s: float, started: float
) -> BurstShot:
    status = await _get(host, port, path, token, wait_s)
    return BurstShot(status, time.monotonic() - started)


async def _burst(
    base_url: str,
    tokens: Sequence[str],
    *,
    requests: int,
    client_timeout: float,
    path: str,
    probe_path: str,
    probe_interval: float,
    max_probes: int,
) -> tuple[list[BurstShot], list[BurstShot]]:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    cycle = itertools.cycle(tokens)
    started = time.monotonic()
    burst = [
        asyncio.create_task(_shot(host, port, path, next(cycle), client_timeout, started))
        for _ in range(requests)
    ]
    probes: list[asyncio.Task[BurstShot]] = []
    while len(probes) < max_probes and not all(task.done() for task in burst):
        await asyncio.sleep(probe_interval)
        probes.append(
            asyncio.create_task(
                _shot(host, port, probe_path, next(cycle), client_timeout, time.monotonic())
            )
        )
    shots = await asyncio.gather(*burst)
    probed = await asyncio.gather(*probes)
    return list(shots), list(probed)


def fire_burst(
    base_url: str,
    tokens: Sequence[str],
    *,
    requests: int = 240,
    client_timeout: float = 120.0,
    path: str = "/api/v1/status/jobs",
    probe_path: str = "/api/v1/agents",
    probe_interval: float = 0.5,
    max_probes: int = 20,
) -> tuple[list[BurstShot], list[BurstShot]]:
    """Start ``requests`` GETs of ``path`` at once and probe ``probe_path`` until they end.

    Returns the burst's answers and the probes' (each probe timed from its own start).
    """
    if not tokens:
        raise ValueError("a burst needs at least one access token")
    return asyncio.run(
        _burst(
            base_url, tokens, requests=requests, client_timeout=client_timeout, path=path,
            probe_path=probe_path, probe_interval=probe_interval, max_probes=max_probes,
        )
    )  # fmt: skip


def count_pool_timeouts(log_text: str) -> int:
    """Lines of a server log that report a pool timeout (SQLAlchemy's QueuePool message)."""
    return sum(1 for line in log_text.splitlines() if POOL_TIMEOUT_MARK in line)
