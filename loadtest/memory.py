"""Sample the resident memory of a server's whole process tree while a run is measured.

A gunicorn server is an arbiter plus its workers; uvicorn and the proxy are one process. The
tree's RSS is summed (shared pages count once per process, as ``ps`` shows them) every
``interval`` seconds from a background thread, but only while :meth:`RssSampler.recording` is
set, so the warm-up (and argon2's 64 MiB per sign-in) stays out of the numbers.
"""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass

import psutil

__all__ = ["RssSampler", "RssSummary", "tree_rss"]

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RssSummary:
    """Peak and mean resident memory over the samples taken, in MiB."""

    peak_mib: float
    avg_mib: float
    samples: int


def tree_rss(pid: int) -> int:
    """Return the summed RSS in bytes of ``pid`` and all its descendants (0 if it is gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class RssSampler:
    """Sample :func:`tree_rss` of one pid in a daemon thread."""

    def __init__(self, pid: int, *, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.recording = threading.Event()
        self._stopped = threading.Event()
        self._samples: list[int] = []
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def start(self) -> RssSampler:
        """Start the thread (it samples only once :attr:`recording` is set)."""
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            if self.recording.is_set():
                rss = tree_rss(self.pid)
                if rss:
                    self._samples.append(rss)

    def stop(self) -> RssSummary:
        """Stop sampling and summarise (zeros when nothing was sampled)."""
        self._stopped.set()
        self._thread.join(timeout=5)
        if not self._samples:
            return RssSummary(0.0, 0.0, 0)
        return RssSummary(
            peak_mib=max(self._samples) / MIB,
            avg_mib=statistics.fmean(self._samples) / MIB,
            samples=len(self._samples),
        )
