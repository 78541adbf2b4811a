"""The progress bar of the commands that walk a list of comparisons (live parity, replay).

A leaf module (rich only): ``cli`` and ``traffic`` both draw it, and neither may import the other.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["comparison_progress"]


def comparison_progress(label: str, console: Console) -> Progress:
    """Return a transient bar ``label [####] 12/40 <current> 0:00:03``; tasks carry ``current``."""
    return Progress(
        TextColumn(f"[bold]{label}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[current]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
