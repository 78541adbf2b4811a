"""Cut a document into the chunks the full-text index stores.

Paragraphs are separated by blank lines; consecutive paragraphs are packed into chunks of at
most 1000 characters joined by a blank line; a longer paragraph is cut every 1000 characters.
"""

from __future__ import annotations

__all__ = ["CHUNK_SIZE", "chunk_text"]

CHUNK_SIZE = 1000


def chunk_text(content: str, size: int = CHUNK_SIZE) -> list[str]:
    """Split ``content`` into chunks of at most ``size`` characters."""
    paragraphs = (p.strip() for p in content.replace("\r\n", "\n").split("\n\n"))
    chunks: list[str] = []
    current = ""
    for paragraph in paragraphs:
        if not paragraph:
            continue
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
