"""Teach Schemathesis to write the files ``POST /api/v1/rag/upload`` takes.

The spec states the upload's part types (``text/plain``, ``text/markdown``, ``text/csv``,
``application/json``) and that the file is UTF-8 text, but Schemathesis has no generator for a
text media type: left alone it sends random bytes or a PNG, which the API rightly refuses. Loaded
by ``schemathesis.toml`` for ``schemathesis run`` and imported by ``test_properties.py``.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

__all__ = ["TEXT_FILE"]

# UTF-8 text (Hypothesis leaves lone surrogates out of text() by default), small enough that a
# run stores many files and never nears RESYNC_RAG_MAX_BYTES.
TEXT_FILE = st.text(max_size=512).map(lambda text: text.encode("utf-8"))

# Not application/json: a strategy registered for it would replace Schemathesis' own JSON bodies
# everywhere. The upload's part type is not what the API checks (the filename's extension is),
# so the three text types are enough to reach every branch of it.
for _media_type in ("text/plain", "text/markdown", "text/csv"):
    schemathesis.openapi.media_type(_media_type, TEXT_FILE)
