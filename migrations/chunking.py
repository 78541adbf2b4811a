"""How a document becomes its ``rag_chunks`` rows: the schema owns it, every writer uses it.

The seed (:mod:`migrations.seed`), the legacy app's upload and the FastAPI app's upload all cut
with :func:`chunk_text`, so a document gets the same chunks (and the same search answers) whoever
stored it. Paragraphs are separated by blank lines; consecutive paragraphs are packed into chunks
of at most :data:`CHUNK_SIZE` (1000) characters joined by a blank line; a longer paragraph is cut
every :data:`CHUNK_SIZE` characters. Nothing here imports an app.
"""

from __future__ import annotations

__all__ = ["CHUNK_SIZE", "chunk_text"]

CHUNK_SIZE = 1000


def chunk_text(content: str, size: int = CHUNK_SIZE) -> list[str]:
    """Split a document as the contract says: paragraphs packed into chunks of ``size`` chars.

    Paragraphs are separated by blank lines; consecutive paragraphs join with a blank line while
    they fit; a longer paragraph is cut every ``size`` characters.
    """
    paragraphs = [p.strip() for p in content.replace("\r\n", "\n").split("\n\n")]
    chunks: list[str] = []
    current = ""
    for paragraph in filter(None, paragraphs):
        if len(paragraph) > size:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(paragraph[i : i + size] for i in range(0, len(paragraph), size))
        elif not current:
            current = paragraph
        elif len(current) + 2 + len(paragraph) <= size:
            current = f"{current}\n\n{paragraph}"
        else:
            chunks.append(current)
            current = paragraph
    if current:
        chunks.append(current)
    return chunks
