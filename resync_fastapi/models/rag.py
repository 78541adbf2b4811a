"""Response bodies of ``/rag``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from resync_fastapi.models.common import Timestamp

__all__ = ["RagFileOut", "SearchHitOut", "SearchOut"]


class RagFileOut(BaseModel):
    """An uploaded document."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6f0f5e-3c1e-4a47-9d0c-2f6a3b1c9e77",
                    "filename": "abend-runbook.md",
                    "size": 2048,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "content_type": "text/markdown",
                    "chunks": 3,
                    "created_at": "2026-11-26T10:00:00Z",
                }
            ]
        }
    )

    id: str
    filename: str
    size: int
    sha256: str
    content_type: str
    chunks: int
    created_at: Timestamp


class SearchHitOut(BaseModel):
    """One matching chunk."""

    file_id: str
    filename: str
    chunk_index: int
    content: str
    score: float


class SearchOut(BaseModel):
    """Search results, best first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "query": "abend restart",
                    "results": [
                        {
                            "file_id": "0b6f0f5e-3c1e-4a47-9d0c-2f6a3b1c9e77",
                            "filename": "abend-runbook.md",
                            "chunk_index": 0,
                            "content": "When a job ends in ABEND...",
                            "score": 1.2345,
                        }
                    ],
                    "total": 1,
                }
            ]
        }
    )

    query: str
    results: list[SearchHitOut]
    total: int
