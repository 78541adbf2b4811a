"""Header parameters decode exactly as Werkzeug (the legacy app's parser) decodes them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.http import parse_options_header

from resync_fastapi.core.header_parameters import parse_header_parameters


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("form-data", ("form-data", {}), id="no parameters"),
        pytest.param(
            "form-data; name=\"file\"; filename*=UTF-8''notes.txt",
            ("form-data", {"name": "file", "filename": "notes.txt"}),
            id="extended",
        ),
        pytest.param(
            "form-data; FileName*=utf-8'en'a%20b.txt",
            ("form-data", {"filename": "a b.txt"}),
            id="key case, language, escape",
        ),
        pytest.param(
            "form-data; filename*=UTF-8''caf%C3%A9; filename*=ISO-8859-1''caf%E9",
            ("form-data", {"filename": "café"}),
            id="last wins",
        ),
        pytest.param(
            "form-data; filename*=UTF-8''%FF", ("form-data", {"filename": "\ufffd"}), id="bad byte"
        ),
        pytest.param(
            "form-data; filename*=KOI8-R''%C1",
            ("form-data", {"filename": "%C1"}),
            id="other charset not decoded",
        ),
        pytest.param(
            "form-data; filename*=\"UTF-8''a.txt\"",
            ("form-data", {"filename": "\"UTF-8''a.txt\""}),
            id="quoted extended value kept",
        ),
        pytest.param(
            'form-data; filename*0*=UTF-8\'\'a%20; filename*1="b.txt"; filename="c"',
            ("form-data", {"filename": "c"}),
            id="later plain drops continuation",
        ),
        pytest.param(
            "form-data; filename=c; filename*0*=UTF-8''a%20; filename*1*=b%2Etxt",
            ("form-data", {"filename": "a b.txt"}),
            id="continuation replaces plain",
        ),
        pytest.param(
            r'form-data; filename="a\"b%22c\\d"',
            ("form-data", {"filename": 'a"b"c\\d'}),
            id="quotes",
        ),
        pytest.param(
            'form-data; bad; name="x; y"; filename="open',
            ("form-data", {"name": "x; y"}),
            id="malformed parts skipped",
        ),
    ],
)
def test_parameters_are_decoded(header: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_header_parameters(header) == expected


_pieces = st.sampled_from(
    [
        "form-data", ";", "; ", " ", "=", '"', "\\", "'", "''", "*", "*0", "*1", "*0*", "name",
        "filename", "FILENAME", "UTF-8", "utf-8", "iso-8859-1", "koi8-r", "en", "%20", "%C3%A9",
        "%E9", "%FF", "%22", "%2F", "a.txt", "notes", ".md", "/", "é", "\t",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_pieces, max_size=24).map("".join))
def test_agrees_with_werkzeug_on_arbitrary_headers(header: str) -> None:
    assert parse_header_parameters(header) == parse_options_header(header)
