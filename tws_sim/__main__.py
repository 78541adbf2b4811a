"""Run the simulator: ``python -m tws_sim [--host] [--port] [--seed] [--latency-ms] [--jitter-ms]``.

Command-line options override the ``TWS_SIM_*`` environment, which overrides the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from collections.abc import Sequence

import structlog
from aiohttp import web

from tws_sim.app import create_app
from tws_sim.errors import InvalidSettings
from tws_sim.settings import ServerSettings

__all__ = ["main", "parse_settings"]


def parse_settings(argv: Sequence[str] | None = None) -> ServerSettings:
    """Merge defaults, the environment and ``argv`` into one :class:`ServerSettings`."""
    base = ServerSettings.from_env()
    parser = argparse.ArgumentParser(prog="python -m tws_sim", description=__doc__)
    parser.add_argument("--host", default=base.host)
    parser.add_argument("--port", type=int, default=base.port)
    parser.add_argument("--seed", type=int, default=base.seed)
    parser.add_argument("--latency-ms", type=float, default=base.faults.latency_ms)
    parser.add_argument("--jitter-ms", type=float, default=base.faults.jitter_ms)
    parser.add_argument(
        "--access-log", action="store_true", default=base.access_log,
        help="log one JSON line per request (off by default: it costs throughput)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        faults = base.faults.updated({"latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms})
    except InvalidSettings as exc:
        parser.error(exc.message)
    return dataclasses.replace(
        base,
        host=args.host,
        port=args.port,
        seed=args.seed,
        access_log=args.access_log,
        faults=faults,
    )


def _configure_logging() -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGINT or SIGTERM."""
    try:
        settings = parse_settings(argv)
    except InvalidSettings as exc:
        sys.exit(f"tws_sim: {exc.message}")
    _configure_logging()
    app = create_app(settings)
    structlog.get_logger("tws_sim").info(
        "tws_sim started", host=settings.host, port=settings.port, seed=settings.seed,
        **settings.faults.as_dict(),
    )  # fmt: skip
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,  # our own structured access log, when enabled, is a middleware
        backlog=1024,  # load tests open many connections at once
        handler_cancellation=True,  # a client that gives up frees its stalled handler
        shutdown_timeout=1.0,
        loop=_event_loop(),
    )


if __name__ == "__main__":
    main()
