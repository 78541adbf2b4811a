"""Sample a server process tree's memory and CPU while a run is measured.

A gunicorn server is an arbiter plus its workers; uvicorn and the proxy are one process. The
tree's RSS is summed (shared pages count once per process, as ``ps`` shows them) every
``interval`` seconds from a background thread, but only while :attr:`UsageSampler.recording` is
set, so the warm-up stays out of the numbers. CPU is the tree's user+system seconds over the
same window divided by its wall time: 1.0 means one core was busy all along, so a server well
below it on its pinned core was waiting (on TWS, on locks) or starved by other processes.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

import psutil

__all__ = ["UsageSampler", "UsageSummary", "tree_cpu_seconds", "tree_rss"]

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Peak and mean resident memory (MiB) and CPU share over the recorded window."""

    peak_mib: float
    avg_mib: float
    samples: int
    cpu_share: float = 0.0  # CPU seconds per wall second (1.0 = one core)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> int:
    """Return the summed RSS in bytes of ``pid`` and all its descendants (0 if it is gone)."""
    total = 0
    for process in _tree(pid):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def tree_cpu_seconds(pid: int) -> float:
    """Return the user+system CPU seconds used so far by ``pid`` and its descendants."""
    total = 0.0
    for process in _tree(pid):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class UsageSampler:
    """Sample :func:`tree_rss` and :func:`tree_cpu_seconds` of one pid in a daemon thread."""

    def __init__(self, pid: int, *, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.recording = threading.Event()
        self._stopped = threading.Event()
        self._samples: list[int] = []
        self._cpu: list[tuple[float, float]] = []  # (monotonic time, CPU seconds)
        self._thread = threading.Thread(target=self._run, name=f"usage-{pid}", daemon=True)

    def start(self) -> UsageSampler:
        """Start the thread (it samples only once :attr:`recording` is set)."""
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            if self.recording.is_set():
                rss = tree_rss(self.pid)
                if rss:
                    self._samples.append(rss)
                    self._cpu.append((time.monotonic(), tree_cpu_seconds(self.pid)))

    def stop(self) -> UsageSummary:
        """Stop sampling and summarise (zeros when nothing was sampled)."""
        self._stopped.set()
        self._thread.join(timeout=5)
        if not self._samples:
            return UsageSummary(0.0, 0.0, 0)
        (t0, c0), (t1, c1) = self._cpu[0], self._cpu[-1]
        return UsageSummary(
            peak_mib=max(self._samples) / MIB,
            avg_mib=statistics.fmean(self._samples) / MIB,
            samples=len(self._samples),
            cpu_share=(c1 - c0) / (t1 - t0) if t1 > t0 else 0.0,
        )
