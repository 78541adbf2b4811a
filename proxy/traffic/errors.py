"""Define the errors of traffic capture and replay (a branch of :class:`proxy.errors.ProxyError`).

```
ProxyError
 └── TrafficError                   capture or replay cannot do what was asked
      ├── CaptureFileError (ValueError)  a capture policy file that is unreadable or malformed
      ├── CaptureStoreError         the capture store cannot be opened, read or written
      └── CaseFileError (ValueError)     a parity case file that cannot be written or read
```
"""

from __future__ import annotations

from proxy.errors import ProxyError

__all__ = ["CaptureFileError", "CaptureStoreError", "CaseFileError", "TrafficError"]


class TrafficError(ProxyError):
    """Capture or replay cannot do what was asked."""


class CaptureFileError(TrafficError, ValueError):
    """A capture policy file that cannot be read or breaks the format (names the file)."""


class CaptureStoreError(TrafficError):
    """The capture store cannot be opened, read or written."""


class CaseFileError(TrafficError, ValueError):
    """A parity case cannot be built from a record, or a case file is malformed."""
