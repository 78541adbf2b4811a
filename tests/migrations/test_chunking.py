"""Documents are cut into paragraph-packed chunks of at most 1000 characters."""

from __future__ import annotations

import pytest

from migrations.chunking import chunk_text


@pytest.mark.parametrize(
    ("text", "chunks"),
    [
        pytest.param("", [], id="empty"),
        pytest.param("\n\n  \n\n", [], id="blank"),
        pytest.param("one", ["one"], id="one-paragraph"),
        pytest.param("a\n\nb\n\n\n\nc", ["a\n\nb\n\nc"], id="packed"),
        pytest.param("a\r\n\r\nb", ["a\n\nb"], id="crlf"),
        pytest.param("  a  \n\n  b ", ["a\n\nb"], id="paragraphs-trimmed"),
        pytest.param("line one\nline two", ["line one\nline two"], id="single-newline-kept"),
    ],
)
def test_small_documents(text: str, chunks: list[str]) -> None:
    assert chunk_text(text) == chunks


def test_packing_stops_at_the_limit() -> None:
    a, b = "a" * 499, "b" * 499
    assert chunk_text(f"{a}\n\n{b}") == [f"{a}\n\n{b}"]  # 499 + 2 + 499 = 1000
    c = "c" * 500
    assert chunk_text(f"{a}\n\n{c}") == [a, c]  # 1001 does not fit


def test_long_paragraph_is_cut_every_1000() -> None:
    text = "s\n\n" + "x" * 2500 + "\n\nt"
    assert chunk_text(text) == ["s", "x" * 1000, "x" * 1000, "x" * 500, "t"]


def test_every_chunk_fits() -> None:
    text = "\n\n".join("w" * n for n in (10, 990, 1, 3000, 400, 600, 999, 2))
    assert all(len(chunk) <= 1000 for chunk in chunk_text(text))
