"""Import a library without the optional extras it would pull in and the app never uses.

structlog imports rich (and, through rich, pygments) whenever rich is installed, only so that
its development console renderer can draw pretty tracebacks. This app logs JSON lines and never
uses that renderer; the project installs rich for the proxy's command-line tables. Importing
structlog while rich is hidden keeps about 3 MiB out of every FastAPI server process.

The hiding lasts for the import only: ``import rich`` works normally afterwards (the CLI's
tables), and nothing changes when the library or the extra was already imported (the strangler
proxy may have set up structlog before it builds this app).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["UNUSED_EXTRAS", "without_extras"]

# Optional imports of the app's libraries that nothing in the app uses.
UNUSED_EXTRAS = ("rich",)


@contextmanager
def without_extras(*names: str) -> Iterator[None]:
    """Make ``import name`` raise ImportError inside the block, for names not imported yet."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the documented "not found" marker
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
