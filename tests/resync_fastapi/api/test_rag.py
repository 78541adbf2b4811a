"""``/rag``: uploads (every refusal in the documented order), files, deletion, search."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from migrations.chunking import chunk_text
from tests.resync_fastapi.harness import (
    AppHarness,
    assert_problem,
    execute,
    field_errors,
    mint,
    settings_for,
    snapshot,
)
from tests.services import TwsSim

UPLOAD = "/api/v1/rag/upload"
FILES = "/api/v1/rag/files"
SEARCH = "/api/v1/rag/search"
FILE_KEYS = ["id", "filename", "size", "sha256", "content_type", "chunks", "created_at"]


def _upload(harness: AppHarness, name: str | None, content: bytes, **kwargs: Any) -> Any:
    return harness.post(
        UPLOAD, token=kwargs.pop("token", mint("operator")), files={"file": (name, content)}
    )


def _unique(text: str = "") -> bytes:
    return f"{text}\n\nmarker {uuid.uuid4().hex}\n".encode()


class TestUpload:
    def test_stores_the_file_and_its_chunks(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        paragraphs = ["quokka " * 100, "short paragraph", "x" * 2500, uuid.uuid4().hex]
        content = "\n\n".join(paragraphs).encode()
        response = _upload(harness, "C:\\Users\\ops\\night notes.md", content)
        assert response.status_code == 201, response.text
        body = response.json()
        assert list(body) == FILE_KEYS
        assert uuid.UUID(body["id"]).version == 4
        assert body["filename"] == "night notes.md"
        assert body["size"] == len(content)
        assert body["sha256"] == hashlib.sha256(content).hexdigest()
        assert body["content_type"] == "text/markdown"
        expected_chunks = chunk_text(content.decode())
        assert body["chunks"] == len(expected_chunks) == 5
        stored = execute(
            module_database_url,
            "SELECT chunk_index, content FROM rag_chunks WHERE file_id = :f ORDER BY chunk_index",
            f=body["id"],
        )
        assert [row[1] for row in stored] == expected_chunks
        assert harness.get(f"{FILES}/{body['id']}", token=mint("viewer")).json() == body
        hits = harness.get(SEARCH, params={"q": "quokka"}, token=mint("viewer")).json()
        assert hits["results"][0]["file_id"] == body["id"]

    @pytest.mark.parametrize(
        ("name", "content_type"),
        [
            ("notes.txt", "text/plain"),
            ("TABLE.CSV", "text/csv"),
            ("data.json", "application/json"),
            ("dir/sub/readme.md", "text/markdown"),
        ],
    )
    def test_content_type_follows_the_extension(
        self, harness: AppHarness, name: str, content_type: str
    ) -> None:
        response = _upload(harness, name, _unique())
        assert response.status_code == 201
        assert response.json()["content_type"] == content_type
        assert response.json()["filename"] == name.rsplit("/", 1)[-1]

    def test_same_content_again_is_409_with_the_existing_id(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        content = _unique("duplicate me")
        first = _upload(harness, "a.txt", content).json()
        before = snapshot(module_database_url)
        again = _upload(harness, "b.md", content)
        body = assert_problem(
            again, 409, "conflict", "A file with the same content already exists."
        )
        assert list(body)[-1] == "existing_id"
        assert body["existing_id"] == first["id"]
        assert snapshot(module_database_url) == before

    @pytest.mark.parametrize(
        ("name", "content", "status", "detail"),
        [
            pytest.param("tool.exe", b"x", 415, "Unsupported file type: .exe.", id="exe"),
            pytest.param("TOOL.EXE", b"x", 415, "Unsupported file type: .exe.", id="upper ext"),
            pytest.param("README", b"x", 415, "Unsupported file type.", id="no extension"),
            pytest.param("bad.exe", b"\xff", 415, "Unsupported file type: .exe.", id="415 first"),
            pytest.param(".hidden.txt", b"x", 400, None, id="leading dot"),
            pytest.param("bad*name.txt", b"x", 400, None, id="bad character"),
            pytest.param("caf\u00e9.txt", b"x", 400, None, id="non-ascii name"),
            pytest.param("x" * 252 + ".txt", b"x", 400, None, id="256 chars"),
            pytest.param("latin1.txt", b"caf\xe9", 400, None, id="not utf-8"),
        ],
    )
    def test_refused_uploads_change_nothing(
        self,
        harness: AppHarness,
        module_database_url: str,
        name: str,
        content: bytes,
        status: int,
        detail: str | None,
    ) -> None:
        before = snapshot(module_database_url)
        response = _upload(harness, name, content)
        if status == 415:
            assert_problem(response, 415, "unsupported-media-type", detail)
        else:
            assert field_errors(response) == [("file", "invalid_format")]
        assert snapshot(module_database_url) == before

    def test_missing_file_field_is_400(self, harness: AppHarness) -> None:
        response = harness.post(UPLOAD, token=mint("operator"), files={"other": ("a.txt", b"x")})
        assert field_errors(response) == [("file", "missing")]
        plain_field = harness.post(UPLOAD, token=mint("operator"), files={"file": (None, "x")})
        assert field_errors(plain_field) == [("file", "missing")]

    def test_a_non_multipart_request_is_415(self, harness: AppHarness) -> None:
        response = harness.post(UPLOAD, token=mint("operator"), json={"file": "x"})
        assert_problem(response, 415, "unsupported-media-type", "Expected multipart/form-data.")

    def test_files_over_one_mib_are_fine_under_the_rag_limit(self, harness: AppHarness) -> None:
        content = _unique("big " * 400_000)
        response = _upload(harness, "big.txt", content)
        assert response.status_code == 201
        assert response.json()["size"] == len(content)


@pytest.fixture(scope="module")
def tiny_limit(module_database_url: str, tws_sim_process: TwsSim) -> Iterator[AppHarness]:
    """An app whose RAG limit is 1000 bytes."""
    settings = settings_for(module_database_url, tws_sim_process.twsd_url, rag_max_bytes=1000)
    with AppHarness(settings) as started:
        yield started


class TestUploadLimit:
    def test_a_file_over_the_limit_is_413(
        self, tiny_limit: AppHarness, module_database_url: str
    ) -> None:
        before = snapshot(module_database_url)
        response = _upload(tiny_limit, "big.txt", b"x" * 1001)
        assert_problem(
            response, 413, "payload-too-large", "The file exceeds the limit of 1000 bytes."
        )
        assert snapshot(module_database_url) == before

    def test_a_file_at_the_limit_is_stored(self, tiny_limit: AppHarness) -> None:
        content = _unique()
        content += b"x" * (1000 - len(content))
        assert _upload(tiny_limit, "exact.txt", content).status_code == 201

    def test_a_body_far_over_the_limit_is_refused_before_authentication(
        self, tiny_limit: AppHarness
    ) -> None:
        response = tiny_limit.post(
            UPLOAD, files={"file": ("big.txt", b"x" * 200_000)}
        )  # no token at all
        assert_problem(
            response, 413, "payload-too-large", "The file exceeds the limit of 1000 bytes."
        )


class TestFiles:
    def test_list_is_newest_first_then_by_id(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        body = harness.get(f"{FILES}?limit=100", token=mint("viewer")).json()
        assert list(body) == ["items", "total", "limit", "offset"]
        assert list(body["items"][0]) == FILE_KEYS
        # The seed and the apps may spell a timestamp differently on SQLite, so compare with the
        # database's own ordering rather than re-sorting the rendered strings.
        ordered = execute(
            module_database_url, "SELECT id FROM rag_files ORDER BY created_at DESC, id"
        )
        assert [item["id"] for item in body["items"]] == [row[0] for row in ordered]
        assert body["total"] == len(ordered)
        page = harness.get(f"{FILES}?limit=2&offset=1", token=mint("viewer")).json()
        assert page["items"] == body["items"][1:3]

    def test_unknown_file_is_404(self, harness: AppHarness) -> None:
        assert_problem(
            harness.get(f"{FILES}/nope", token=mint("viewer")),
            404,
            "not-found",
            "File nope not found.",
        )

    def test_admin_deletes_a_file_and_its_chunks(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        word = f"zebra{uuid.uuid4().hex[:6]}"
        created = _upload(harness, "gone.txt", f"{word} crossing".encode()).json()
        assert harness.get(SEARCH, params={"q": word}, token=mint("viewer")).json()["total"] == 1
        response = harness.delete(f"{FILES}/{created['id']}", token=mint("admin"))
        assert response.status_code == 204 and response.content == b""
        assert harness.get(f"{FILES}/{created['id']}", token=mint("viewer")).status_code == 404
        chunks = execute(
            module_database_url,
            "SELECT count(*) FROM rag_chunks WHERE file_id = :f",
            f=created["id"],
        )
        assert chunks[0][0] == 0
        assert harness.get(SEARCH, params={"q": word}, token=mint("viewer")).json()["total"] == 0
        again = harness.delete(f"{FILES}/{created['id']}", token=mint("admin"))
        assert_problem(again, 404, "not-found", f"File {created['id']} not found.")


class TestSearch:
    def test_results_are_ranked_and_shaped(self, harness: AppHarness) -> None:
        body = harness.get(SEARCH, params={"q": "abend restart"}, token=mint("viewer")).json()
        assert list(body) == ["query", "results", "total"]
        assert body["query"] == "abend restart"
        assert 0 < body["total"] == len(body["results"]) <= 5
        first = body["results"][0]
        assert list(first) == ["file_id", "filename", "chunk_index", "content", "score"]
        order = [(-hit["score"], hit["file_id"], hit["chunk_index"]) for hit in body["results"]]
        assert order == sorted(order)
        assert all(round(hit["score"], 4) == hit["score"] > 0 for hit in body["results"])

    def test_top_k_limits_the_results(self, harness: AppHarness) -> None:
        body = harness.get(SEARCH, params={"q": "job", "top_k": 2}, token=mint("viewer")).json()
        assert body["total"] == len(body["results"]) == 2

    @pytest.mark.parametrize("q", ["...", "   ", "!?"])
    def test_a_query_without_words_finds_nothing(self, harness: AppHarness, q: str) -> None:
        body = harness.get(SEARCH, params={"q": q}, token=mint("viewer")).json()
        assert body == {"query": q, "results": [], "total": 0}

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            pytest.param({}, [("q", "missing")], id="no q"),
            pytest.param({"q": ""}, [("q", "too_short")], id="empty q"),
            pytest.param({"q": "x" * 201}, [("q", "too_long")], id="long q"),
            pytest.param({"q": "a", "top_k": 0}, [("top_k", "out_of_range")], id="top_k 0"),
            pytest.param({"q": "a", "top_k": 21}, [("top_k", "out_of_range")], id="top_k 21"),
            pytest.param({"q": "a", "top_k": "x"}, [("top_k", "invalid_type")], id="top_k x"),
        ],
    )
    def test_bad_queries_are_400(
        self, harness: AppHarness, params: dict[str, Any], expected: list[tuple[str, str]]
    ) -> None:
        assert field_errors(harness.get(SEARCH, params=params, token=mint("viewer"))) == expected


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=xyz"],
    ids=["no boundary", "truncated"],
)
def test_a_broken_multipart_body_has_no_file(harness: AppHarness, content_type: str) -> None:
    response = harness.post(
        UPLOAD,
        token=mint("operator"),
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"',
        headers={"Content-Type": content_type},
    )
    assert field_errors(response) == [("file", "missing")]


def _raw_upload(harness: AppHarness, disposition: str, content: bytes) -> Any:
    """Upload one part with ``disposition`` written byte for byte (no client re-encoding)."""
    body = (
        f"--b7\r\nContent-Disposition: {disposition}\r\nContent-Type: text/plain\r\n\r\n".encode()
        + content
        + b"\r\n--b7--\r\n"
    )
    return harness.post(
        UPLOAD,
        token=mint("operator"),
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=b7"},
    )


class TestExtendedFilenames:
    """RFC 5987 ``filename*`` parts are files, named as the legacy app names them."""

    @pytest.mark.parametrize(
        ("parameters", "stored"),
        [
            pytest.param("filename*=UTF-8''notes.txt", "notes.txt", id="extended only"),
            pytest.param("filename*=utf-8'en'my%20notes.md", "my notes.md", id="language, escape"),
            pytest.param("FILENAME*=UTF-8''notes.txt", "notes.txt", id="key case"),
            pytest.param("filename*=notes.txt", "notes.txt", id="no charset"),
            pytest.param("filename*=KOI8-R''notes.txt", "notes.txt", id="other charset"),
            pytest.param("filename*=UTF-8''..%2F..%2Fetc%2Fx.txt", "x.txt", id="encoded path"),
            pytest.param("filename*=UTF-8''dir%5Cy.txt", "y.txt", id="encoded backslash"),
            pytest.param("filename*0*=UTF-8''no; filename*1=tes.csv", "notes.csv", id="continued"),
            pytest.param(
                "filename=\"plain.txt\"; filename*=UTF-8''x.txt", "plain.txt", id="quoted"
            ),
            pytest.param(
                "filename*=UTF-8''x.txt; filename=\"plain.txt\"", "plain.txt", id="quoted 2"
            ),
            pytest.param("filename=plain.txt; filename*=UTF-8''x.txt", "x.txt", id="token first"),
            pytest.param(
                "filename*=UTF-8''x.txt; filename=plain.txt", "plain.txt", id="token last"
            ),
        ],
    )
    def test_the_part_is_stored_under_its_decoded_name(
        self, harness: AppHarness, parameters: str, stored: str
    ) -> None:
        response = _raw_upload(harness, f'form-data; name="file"; {parameters}', _unique())
        assert response.status_code == 201, response.text
        assert response.json()["filename"] == stored

    def test_an_extended_field_name_is_a_name(self, harness: AppHarness) -> None:
        response = _raw_upload(harness, "form-data; name*=UTF-8''file; filename=n.txt", _unique())
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize(
        "parameters",
        [
            pytest.param("filename*=UTF-8''caf%C3%A9.txt", id="non-ASCII"),
            pytest.param("filename*=ISO-8859-1''caf%E9.txt", id="latin-1"),
            pytest.param("filename*=UTF-8''n%FFotes.txt", id="invalid UTF-8 escape"),
            pytest.param("filename*=UTF-8''.env.txt", id="dotfile"),
        ],
    )
    def test_a_decoded_name_outside_the_rule_is_400(
        self, harness: AppHarness, parameters: str
    ) -> None:
        response = _raw_upload(harness, f'form-data; name="file"; {parameters}', _unique())
        assert field_errors(response) == [("file", "invalid_format")]

    @pytest.mark.parametrize(
        ("parameters", "detail"),
        [
            pytest.param("filename*=UTF-8''tool.exe", "Unsupported file type: .exe.", id="exe"),
            pytest.param(
                "filename=\"plain.exe\"; filename*=UTF-8''x.txt",
                "Unsupported file type: .exe.",
                id="quoted plain wins",
            ),
            pytest.param(
                "filename=\"\"; filename*=UTF-8''x.txt", "Unsupported file type.", id="empty plain"
            ),
            pytest.param(
                "filename*=\"UTF-8''x.txt\"",
                'Unsupported file type: .txt".',
                id="quoted extended value is not decoded",
            ),
        ],
    )
    def test_the_extension_is_checked_on_the_chosen_name(
        self, harness: AppHarness, parameters: str, detail: str
    ) -> None:
        response = _raw_upload(harness, f'form-data; name="file"; {parameters}', _unique())
        assert_problem(response, 415, "unsupported-media-type", detail)


def test_a_text_field_named_file_does_not_hide_the_file_part(harness: AppHarness) -> None:
    content = _unique()
    body = (
        b"--b7\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''kept.md\r\n\r\n"
        + content
        + b'\r\n--b7\r\nContent-Disposition: form-data; name="file"\r\n\r\ntext\r\n--b7--\r\n'
    )
    response = harness.post(
        UPLOAD,
        token=mint("operator"),
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=b7"},
    )
    assert response.status_code == 201, response.text
    assert (response.json()["filename"], response.json()["size"]) == ("kept.md", len(content))
