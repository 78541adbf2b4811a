"""Add the Resync load test's own options to Locust's command line, config file and web UI.

``--targets`` picks the targets file the run is judged by (``loadtest/common/gate.py``),
``--warmup-seconds`` drops the numbers of the first seconds after each ramp
(``loadtest/common/warmup.py``), the ``--resync-*`` options say who signs in and
``--think-time`` how long the operator pauses between tasks. Every option also reads an
environment variable (``LOCUST_TARGETS``...) and a ``locust.conf`` key (``targets = ...``).
"""

from __future__ import annotations

from typing import Any

from locust.event import Events

__all__ = ["install", "think_time_range"]


def _add_arguments(parser: Any, **_kwargs: Any) -> None:
    # Locust only knows its UI flags (is_secret...) on the parser itself, not on groups.
    parser.add_argument(
        "--targets",
        env_var="LOCUST_TARGETS",
        default="",
        help="TOML file of targets (rps floor, p95/p99 ceilings, failure ratio) the run must "
        "meet; a miss is logged and makes Locust exit 1. Example: loadtest/targets/smoke.toml",
    )
    parser.add_argument(
        "--warmup-seconds",
        env_var="LOCUST_WARMUP_SECONDS",
        type=float,
        default=0.0,
        help="Reset the statistics this many seconds after spawning completes (0: never)",
    )
    parser.add_argument(
        "--resync-username",
        env_var="LOCUST_RESYNC_USERNAME",
        default="operator",
        help="User to sign in as; with --resync-user-pool N, a template such as bench{n:03d}",
    )
    parser.add_argument(
        "--resync-password",
        env_var="LOCUST_RESYNC_PASSWORD",
        default="resync-operator-dev",
        is_secret=True,
        help="Password of that user (all pool users share it)",
    )
    parser.add_argument(
        "--resync-user-pool",
        env_var="LOCUST_RESYNC_USER_POOL",
        type=int,
        default=0,
        help="Sign simulated user i in as the template filled with n = i %% N + 1 (0: one user)",
    )
    parser.add_argument(
        "--resync-tokens-file",
        env_var="LOCUST_RESYNC_TOKENS_FILE",
        default="",
        include_in_web_ui=False,
        help="Use pre-issued access tokens (username<TAB>token per line) instead of signing in",
    )
    parser.add_argument(
        "--think-time",
        env_var="LOCUST_THINK_TIME",
        default="1:3",
        help="Seconds the Resync operator waits between tasks, MIN:MAX or one number",
    )


def think_time_range(value: str) -> tuple[float, float]:
    """Parse ``--think-time`` (``"1:3"`` or ``"0"``) into a (min, max) pair of seconds."""
    low, _, high = str(value).partition(":")
    bounds = (float(low), float(high or low))
    if bounds[0] < 0 or bounds[1] < bounds[0]:
        raise ValueError(f"--think-time {value!r}: need 0 <= MIN <= MAX")
    return bounds


def install(events: Events) -> None:
    """Register the options on Locust's parser (call once, from the locustfile)."""
    events.init_command_line_parser.add_listener(_add_arguments)
