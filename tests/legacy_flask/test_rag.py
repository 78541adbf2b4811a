"""Upload, list, show, delete and search RAG documents."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.legacy_flask.conftest import AppFactory
from tests.legacy_flask.harness import assert_problem, auth, field_errors, query, snapshot

FILE_KEYS = ["id", "filename", "size", "sha256", "content_type", "chunks", "created_at"]


def unique_text(prefix: str = "note") -> bytes:
    return f"{prefix} {uuid.uuid4().hex}\n\nSecond paragraph about quasar reactors.\n".encode()


def upload(
    client: FlaskClient, content: bytes, filename: str = "notes.txt", role: str = "operator"
) -> Any:
    return client.post(
        "/api/v1/rag/upload",
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
        headers=auth(role),
    )


def test_upload_stores_file_and_chunks(client: FlaskClient, db_path: str) -> None:
    content = unique_text()
    response = upload(client, content, "Runbook v2.md")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert list(body) == FILE_KEYS
    assert str(uuid.UUID(body["id"], version=4)) == body["id"]
    assert body["filename"] == "Runbook v2.md"
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["content_type"] == "text/markdown"
    assert body["chunks"] == 1
    chunks = query(db_path, "SELECT * FROM rag_chunks WHERE file_id = :f", f=body["id"])
    assert [c.content for c in chunks] == [content.decode().strip()]
    stored = query(db_path, "SELECT uploaded_by FROM rag_files WHERE id = :f", f=body["id"])
    assert stored[0].uploaded_by == "operator"
    assert client.get(f"/api/v1/rag/files/{body['id']}", headers=auth("viewer")).get_json() == body


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        pytest.param("a.txt", "text/plain", id="txt"),
        pytest.param("a.CSV", "text/csv", id="csv-upper"),
        pytest.param("data.json", "application/json", id="json"),
        pytest.param("../../etc/evil.md", "text/markdown", id="traversal-reduced"),
        pytest.param("C:\\Users\\x\\win.txt", "text/plain", id="windows-path-reduced"),
    ],
)
def test_upload_types_and_reduced_names(
    client: FlaskClient, filename: str, content_type: str
) -> None:
    body = upload(client, unique_text(), filename).get_json()
    assert body["content_type"] == content_type
    assert body["filename"] == filename.replace("\\", "/").rsplit("/", 1)[-1]


def test_upload_chunks_long_documents(client: FlaskClient, db_path: str) -> None:
    paragraphs = [f"para {i} " + "w" * 590 for i in range(3)] + ["z" * 2500]
    content = "\n\n".join(paragraphs).encode()
    body = upload(client, content, "long.txt").get_json()
    chunks = [
        c.content
        for c in query(
            db_path,
            "SELECT content FROM rag_chunks WHERE file_id = :f ORDER BY chunk_index",
            f=body["id"],
        )
    ]
    # 600-char paragraphs do not pair up (600 + 2 + 600 > 1000); the long one is cut.
    assert chunks == [*paragraphs[:3], "z" * 1000, "z" * 1000, "z" * 500]
    assert body["chunks"] == 6


@pytest.mark.parametrize(
    ("filename", "content", "status", "slug", "detail_or_field"),
    [
        pytest.param(
            "evil.exe",
            None,
            415,
            "unsupported-media-type",
            "Unsupported file type: .exe.",
            id="wrong-type",
        ),
        pytest.param(
            "README",
            None,
            415,
            "unsupported-media-type",
            "Unsupported file type.",
            id="no-extension",
        ),
        pytest.param(
            "x.PDF",
            None,
            415,
            "unsupported-media-type",
            "Unsupported file type: .pdf.",
            id="upper-extension-lowered",
        ),
        pytest.param(
            "../..", None, 415, "unsupported-media-type", "Unsupported file type.", id="dot-dot"
        ),
        pytest.param(".env.txt", None, 400, "validation", "file", id="hidden"),
        pytest.param("../.bashrc.md", None, 400, "validation", "file", id="traversal-to-hidden"),
        pytest.param("bad;name.txt", None, 400, "validation", "file", id="bad-character"),
        pytest.param("ü.txt", None, 400, "validation", "file", id="non-ascii-name"),
        pytest.param("a" * 252 + ".txt", None, 400, "validation", "file", id="name-too-long"),
        pytest.param(
            "latin1.txt", "caf\xe9".encode("latin-1"), 400, "validation", "file", id="not-utf8"
        ),
    ],
)
def test_bad_uploads_change_nothing(
    client: FlaskClient,
    db_path: str,
    filename: str,
    content: bytes | None,
    status: int,
    slug: str,
    detail_or_field: str,
) -> None:
    before = snapshot(db_path)
    response = upload(client, content if content is not None else unique_text(), filename)
    body = assert_problem(response, status, slug)
    if status == 400:
        assert field_errors(body) == [(detail_or_field, "invalid_format")]
    else:
        assert body["detail"] == detail_or_field
    assert snapshot(db_path) == before


def test_type_check_comes_before_name_check(client: FlaskClient) -> None:
    assert upload(client, unique_text(), ".hidden.exe").status_code == 415


def test_upload_too_large(make_app: AppFactory, db_path: str) -> None:
    app = make_app(db_path, RAG_MAX_BYTES=100)
    client = app.test_client()
    before = snapshot(db_path)
    response = upload(client, b"x" * 101, "big.txt")
    assert_problem(response, 413, "payload-too-large", "The file exceeds the limit of 100 bytes.")
    assert upload(client, b"y" * 100, "fits.txt").status_code == 201
    # Checks come in order: the type (415) before the size (413).
    assert upload(client, b"x" * 101, "big.exe").status_code == 415
    # A body far over the limit is refused by its Content-Length, before authentication.
    huge = client.post(
        "/api/v1/rag/upload",
        data={"file": (io.BytesIO(b"x" * 200_000), "huge.txt")},
        content_type="multipart/form-data",
    )
    assert_problem(huge, 413, "payload-too-large", "The file exceeds the limit of 100 bytes.")
    assert len(snapshot(db_path)["rag_files"]) == len(before["rag_files"]) + 1


def test_upload_allows_more_than_the_json_limit(client: FlaskClient) -> None:
    content = (b"lorem ipsum " * 100 + b"\n\n") * 1500  # about 1.8 MB, under 5 MiB
    assert len(content) > 1_048_576
    assert upload(client, content, "big.txt").status_code == 201


def test_duplicate_upload_is_409_with_existing_id(client: FlaskClient, db_path: str) -> None:
    content = unique_text("dup")
    first = upload(client, content, "one.txt").get_json()
    before = snapshot(db_path)
    response = upload(client, content, "two.md")
    body = assert_problem(response, 409, "conflict", "A file with the same content already exists.")
    assert list(body)[-1] == "existing_id"
    assert body["existing_id"] == first["id"]
    assert snapshot(db_path) == before


def test_upload_missing_file_field(client: FlaskClient, db_path: str) -> None:
    before = snapshot(db_path)
    response = client.post(
        "/api/v1/rag/upload",
        data={"other": (io.BytesIO(b"x"), "x.txt")},
        content_type="multipart/form-data",
        headers=auth("operator"),
    )
    body = assert_problem(response, 400, "validation")
    assert field_errors(body) == [("file", "missing")]
    assert snapshot(db_path) == before


def test_upload_not_multipart_is_415(client: FlaskClient) -> None:
    response = client.post("/api/v1/rag/upload", json={"file": "x"}, headers=auth("operator"))
    assert_problem(response, 415, "unsupported-media-type", "Expected multipart/form-data.")


def test_list_files_newest_first_and_paginated(client: FlaskClient) -> None:
    everything = client.get("/api/v1/rag/files?limit=100", headers=auth("viewer")).get_json()
    assert everything["total"] == len(everything["items"]) >= 4
    assert all(list(item) == FILE_KEYS for item in everything["items"])
    keys = [item["created_at"] for item in everything["items"]]
    assert keys == sorted(keys, reverse=True)
    page = client.get("/api/v1/rag/files?limit=2&offset=1", headers=auth("viewer")).get_json()
    assert page["items"] == everything["items"][1:3]


def test_get_unknown_file_is_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/rag/files/nope", headers=auth("viewer"))
    assert_problem(response, 404, "not-found", "File nope not found.")


def test_delete_file_removes_its_chunks_and_index(client: FlaskClient, db_path: str) -> None:
    marker = f"xylophone{uuid.uuid4().hex[:6]}"
    body = upload(client, f"{marker} tuning guide".encode(), "x.txt").get_json()
    found = client.get(f"/api/v1/rag/search?q={marker}", headers=auth("viewer")).get_json()
    assert [r["file_id"] for r in found["results"]] == [body["id"]]
    response = client.delete(f"/api/v1/rag/files/{body['id']}", headers=auth("admin"))
    assert response.status_code == 204 and response.data == b""
    assert "Content-Type" not in response.headers
    assert query(db_path, "SELECT 1 FROM rag_chunks WHERE file_id = :f", f=body["id"]) == []
    assert client.get(f"/api/v1/rag/files/{body['id']}", headers=auth("viewer")).status_code == 404
    again = client.get(f"/api/v1/rag/search?q={marker}", headers=auth("viewer")).get_json()
    assert again["results"] == [] and again["total"] == 0
    gone = client.delete(f"/api/v1/rag/files/{body['id']}", headers=auth("admin"))
    assert_problem(gone, 404, "not-found", f"File {body['id']} not found.")


def test_search_ranks_by_score_then_file_then_chunk(client: FlaskClient) -> None:
    word = f"quokka{uuid.uuid4().hex[:6]}"
    strong = upload(client, f"{word} {word} {word} habitat".encode(), "strong.txt").get_json()
    weak = upload(
        client, f"{word} once, among many other words about islands".encode(), "weak.txt"
    ).get_json()
    body = client.get(f"/api/v1/rag/search?q={word.upper()}", headers=auth("viewer")).get_json()
    assert list(body) == ["query", "results", "total"]
    assert body["query"] == word.upper()
    assert [r["file_id"] for r in body["results"]] == [strong["id"], weak["id"]]
    first = body["results"][0]
    assert list(first) == ["file_id", "filename", "chunk_index", "content", "score"]
    assert first["filename"] == "strong.txt" and first["chunk_index"] == 0
    assert first["score"] > body["results"][1]["score"] > 0
    assert round(first["score"], 4) == first["score"]
    assert body["total"] == 2


def test_search_seeded_runbooks_with_top_k(client: FlaskClient) -> None:
    body = client.get(
        "/api/v1/rag/search?q=abend recovery&top_k=1", headers=auth("viewer")
    ).get_json()
    assert body["total"] == 1 == len(body["results"])
    wider = client.get(
        "/api/v1/rag/search?q=abend recovery&top_k=20", headers=auth("viewer")
    ).get_json()
    assert wider["results"][0] == body["results"][0]
    scores = [r["score"] for r in wider["results"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("q", ["!!!", "   ", "?-*"])
def test_search_without_terms_is_empty(client: FlaskClient, q: str) -> None:
    body = client.get(
        "/api/v1/rag/search", query_string={"q": q}, headers=auth("viewer")
    ).get_json()
    assert body == {"query": q, "results": [], "total": 0}


def test_search_quotes_cannot_break_the_query(client: FlaskClient) -> None:
    response = client.get(
        "/api/v1/rag/search", query_string={"q": 'abend" OR NEAR(x'}, headers=auth("viewer")
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        pytest.param("", [("q", "missing")], id="missing"),
        pytest.param("q=", [("q", "too_short")], id="empty"),
        pytest.param("q=" + "x" * 201, [("q", "too_long")], id="too-long"),
        pytest.param("q=a&top_k=0", [("top_k", "out_of_range")], id="top-k-0"),
        pytest.param("q=a&top_k=21", [("top_k", "out_of_range")], id="top-k-21"),
        pytest.param("top_k=x", [("q", "missing"), ("top_k", "invalid_type")], id="both"),
    ],
)
def test_search_bad_query(client: FlaskClient, params: str, errors: list[tuple[str, str]]) -> None:
    response = client.get(f"/api/v1/rag/search?{params}", headers=auth("viewer"))
    assert field_errors(assert_problem(response, 400, "validation")) == errors
