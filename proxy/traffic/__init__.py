"""Capture real traffic at the proxy, replay it against both implementations, promote findings.

```
dispatcher ──(sampled, teed)──► TrafficRecorder ──queue──► writer thread ──► CaptureStore
                                  (policy.py)   recorder.py   records.py (redact)   store.py
resync-strangler replay ──► replay.py ──► targets.py (live URLs) │ resync_replay.py (in-process)
                               └── comparator + rules, database snapshots (databases.py)
resync-strangler promote ──► cases.py ──► parity_tests/cases/*.json (run by the parity suite)
```

Modules are imported lazily: the proxy pays for the capture code only when a policy is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry

    from proxy.settings import ProxySettings
    from proxy.traffic.recorder import TrafficRecorder

__all__ = ["build_traffic_recorder"]


def build_traffic_recorder(
    settings: ProxySettings,
    *,
    registry: CollectorRegistry | None = None,
    role_of: Callable[[str], str | None] | None = None,
) -> TrafficRecorder | None:
    """Return the recorder ``STRANGLER_CAPTURE_*`` describe, or None when capture is off.

    A broken policy file raises :class:`~proxy.traffic.errors.CaptureFileError`, so a worker
    with a wrong file does not start (rather than silently capture nothing).
    """
    if settings.capture_file is None:
        return None
    from proxy.traffic.policy import load_capture_file
    from proxy.traffic.recorder import TrafficRecorder, unverified_role
    from proxy.traffic.store import open_capture_store

    policy = load_capture_file(settings.capture_file)
    if not policy.enabled:
        return None
    store = open_capture_store(
        settings.capture_store_url,
        max_records=settings.capture_max_records,
        max_age=settings.capture_max_age,
    )
    extra: dict[str, Any] = {"registry": registry} if registry is not None else {}
    return TrafficRecorder(
        policy,
        store,
        queue_size=settings.capture_queue,
        role_of=role_of or unverified_role,
        **extra,
    )
