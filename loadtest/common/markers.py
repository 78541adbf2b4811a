"""Log lines other processes look for in Locust's output (the bench runner, the smoke tests)."""

from __future__ import annotations

__all__ = ["TARGETS_MET", "TARGET_MISSED", "WARMUP_OVER"]

WARMUP_OVER = "warm-up over: statistics reset"
TARGET_MISSED = "TARGET MISSED"
TARGETS_MET = "targets met"
