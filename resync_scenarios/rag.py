"""Parity scenarios for ``/api/v1/rag``: upload (multipart), files, delete, search."""

from __future__ import annotations

import uuid

from migrations.seed import RUNBOOK_DIR
from resync_scenarios.builders import A, by_role, pagination
from resync_scenarios.model import MULTIPART_BOUNDARY, Scenario, multipart

__all__ = ["scenarios"]

SEEDED_FILE = str(uuid.uuid5(uuid.NAMESPACE_URL, "resync-runbook:abend-recovery.md"))
SEEDED_FILE_2 = str(uuid.uuid5(uuid.NAMESPACE_URL, "resync-runbook:critical-path.md"))
UNKNOWN_FILE = "00000000-0000-4000-8000-000000000000"


def _upload(
    id_: str,
    filename: str | None,
    content: bytes,
    *,
    auth: str | None = "operator",
    expect: int | None = None,
    field_name: str = "file",
    part_type: str | None = "text/plain",
    before: tuple[Scenario, ...] = (),
) -> Scenario:
    body, content_type = multipart([(field_name, filename, content, part_type)])
    return Scenario(
        id_,
        "POST /api/v1/rag/upload",
        "/api/v1/rag/upload",
        auth=auth,
        body=body,
        content_type=content_type,
        expect=expect,
        before=before,
    )


def _upload_disposition(
    id_: str, disposition: str, content: bytes, *, expect: int | None = None
) -> Scenario:
    """An operator's upload of one part whose ``Content-Disposition`` is written verbatim.

    For RFC 5987 / RFC 2231 parameters (``filename*=UTF-8''...``, ``filename*0=``) that
    :func:`multipart` does not write.
    """
    head = f"--{MULTIPART_BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    head += "Content-Type: text/plain\r\n\r\n"
    body = head.encode("utf-8") + content + f"\r\n--{MULTIPART_BOUNDARY}--\r\n".encode()
    return Scenario(
        id_,
        "POST /api/v1/rag/upload",
        "/api/v1/rag/upload",
        auth="operator",
        body=body,
        content_type=f"multipart/form-data; boundary={MULTIPART_BOUNDARY}",
        expect=expect,
    )


_first_upload = _upload("upload-step", "notes.txt", b"alpha beta\n\ngamma delta\n")


def scenarios() -> list[Scenario]:
    """Return the RAG scenarios, in suite order."""
    s: list[Scenario] = []

    # --- RAG --------------------------------------------------------------------------------
    text = b"Restart the job after fixing the dependency.\n\nThen check the plan.\n"
    s += [
        _upload("upload-anonymous", "runbook.txt", text, auth=None, expect=401),
        _upload("upload-viewer", "runbook.txt", text, auth="viewer", expect=403),
        _upload("upload-operator", "runbook.txt", text, expect=201),
        _upload(
            "upload-admin", "runbook.md", text, auth="admin", expect=201, part_type="text/markdown"
        ),
        _upload("upload-csv", "jobs.csv", b"id,name\r\nJ1,A\r\n", expect=201),
        _upload("upload-json", "data.json", b'{"a": 1}', expect=201, part_type="application/json"),
        _upload("upload-uppercase-extension", "NOTES.TXT", text, expect=201),
        _upload(
            "upload-long-paragraphs",
            "long.md",
            b"\n\n".join([b"p" * 700, b"q" * 2500, b"r" * 10, b"s" * 990]),
            expect=201,
        ),
        _upload("upload-empty-file", "empty.txt", b"", expect=201),
        _upload("upload-traversal", "../../etc/passwd.txt", b"root:x:0:0\n", expect=201),
        _upload("upload-windows-traversal", "..\\..\\boot.ini.txt", b"boot\n", expect=201),
        _upload("upload-absolute", "/var/lib/secret.md", b"secret\n", expect=201),
        _upload("upload-dotfile", ".env.txt", b"A=1\n", expect=400),
        _upload("upload-traversal-to-dotfile", "a/b/.hidden.md", b"h\n", expect=400),
        _upload("upload-bad-characters", "na<me>.txt", b"x\n", expect=400),
        _upload("upload-name-256", ("n" * 252) + ".txt", b"x\n", expect=400),
        _upload("upload-name-255", ("n" * 251) + ".txt", b"x2\n", expect=201),
        _upload("upload-trailing-slash-name", "dir/", b"x\n", expect=415),
        _upload("upload-exe", "tool.exe", b"MZ", expect=415, part_type="application/octet-stream"),
        _upload("upload-pdf-uppercase", "Report.PDF", b"%PDF", expect=415),
        _upload("upload-no-extension", "README", b"x\n", expect=415),
        _upload("upload-dot-only-extension", "file.", b"x\n", expect=415),
        _upload("upload-exe-bad-name", "../.evil.exe", b"MZ", expect=415),
        _upload("upload-not-utf8", "latin.txt", "café".encode("latin-1"), expect=400),
        _upload("upload-utf8-bom", "bom.txt", b"\xef\xbb\xbfhello\n", expect=201),
        _upload("upload-too-large", "big.txt", b"a" * (64 * 1024 + 1), expect=413),
        _upload("upload-at-limit", "limit.txt", b"b" * (64 * 1024), expect=201),
        _upload("upload-wrong-field", "x.txt", b"x\n", field_name="document", expect=400),
        _upload("upload-no-filename", None, b"x\n", expect=400),
        _upload(
            "upload-duplicate",
            "again.txt",
            b"alpha beta\n\ngamma delta\n",
            expect=409,
            before=(_first_upload,),
        ),
        _upload(
            "upload-duplicate-of-seeded",
            "copy.md",
            (RUNBOOK_DIR / "abend-recovery.md").read_bytes(),
            expect=409,
            part_type="text/markdown",
        ),
        Scenario(
            "upload-malformed-multipart",
            "POST /api/v1/rag/upload",
            f"{A}/rag/upload",
            auth="operator",
            body=b"--other\r\nnot a part at all",
            content_type="multipart/form-data; boundary=resync-parity",
            expect=400,
        ),
        Scenario(
            "upload-multipart-without-boundary",
            "POST /api/v1/rag/upload",
            f"{A}/rag/upload",
            auth="operator",
            body=b"x",
            content_type="multipart/form-data",
            expect=400,
        ),
        Scenario(
            "upload-json-body",
            "POST /api/v1/rag/upload",
            f"{A}/rag/upload",
            auth="operator",
            json={"file": "x"},
            expect=415,
        ),
        Scenario(
            "upload-no-body",
            "POST /api/v1/rag/upload",
            f"{A}/rag/upload",
            auth="operator",
            expect=415,
        ),
    ]
    # RFC 5987 extended filenames: a ``filename*`` part is a file; a quoted ``filename="..."``
    # wins over it, otherwise the last occurrence wins; the decoded name meets the same rules.
    fd = 'form-data; name="file"; '
    s += [
        _upload_disposition(
            "upload-rfc5987-filename", fd + "filename*=UTF-8''notes.txt", b"r1\n", expect=201
        ),
        _upload_disposition(
            "upload-rfc5987-language-and-escape",
            fd + "filename*=utf-8'en'my%20notes.md",
            b"r2\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-no-charset", fd + "filename*=notes.txt", b"r3\n", expect=201
        ),
        _upload_disposition(
            "upload-rfc5987-other-charset", fd + "filename*=KOI8-R''notes.txt", b"r4\n", expect=201
        ),
        _upload_disposition(
            "upload-rfc5987-continuation",
            fd + "filename*0*=UTF-8''no; filename*1=tes.csv",
            b"r5\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-encoded-traversal",
            fd + "filename*=UTF-8''..%2F..%2Fetc%2Fx.txt",
            b"r6\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-quoted-plain-first",
            fd + "filename=\"plain.txt\"; filename*=UTF-8''notes.md",
            b"r7\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-quoted-plain-last",
            fd + "filename*=UTF-8''notes.md; filename=\"plain.txt\"",
            b"r8\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-token-plain-first",
            fd + "filename=plain.txt; filename*=UTF-8''notes.md",
            b"r9\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-token-plain-last",
            fd + "filename*=UTF-8''notes.md; filename=plain.txt",
            b"r10\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-extended-name",
            "form-data; name*=UTF-8''file; filename*=UTF-8''named.txt",
            b"r11\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-non-ascii", fd + "filename*=UTF-8''caf%C3%A9.txt", b"x\n", expect=400
        ),
        _upload_disposition(
            "upload-rfc5987-latin-1", fd + "filename*=ISO-8859-1''caf%E9.txt", b"x\n", expect=400
        ),
        _upload_disposition(
            "upload-rfc5987-invalid-escape",
            fd + "filename*=UTF-8''n%FFotes.txt",
            b"x\n",
            expect=400,
        ),
        _upload_disposition(
            "upload-rfc5987-dotfile", fd + "filename*=UTF-8''.env.txt", b"x\n", expect=400
        ),
        _upload_disposition(
            "upload-rfc5987-exe", fd + "filename*=UTF-8''tool.exe", b"MZ", expect=415
        ),
        _upload_disposition(
            "upload-rfc5987-quoted-plain-exe",
            fd + "filename=\"tool.exe\"; filename*=UTF-8''notes.txt",
            b"MZ",
            expect=415,
        ),
        _upload_disposition(
            "upload-rfc5987-empty-plain",
            fd + "filename=\"\"; filename*=UTF-8''notes.txt",
            b"x\n",
            expect=415,
        ),
        _upload_disposition(
            "upload-rfc5987-quoted-extended-value",
            fd + "filename*=\"UTF-8''notes.txt\"",
            b"x\n",
            expect=415,
        ),
    ]
    files = "GET /api/v1/rag/files"
    s += by_role("rag-files", files, f"{A}/rag/files", "viewer")
    s += pagination("rag-files", files, f"{A}/rag/files", "viewer")
    s.append(
        Scenario(
            "rag-files-after-upload",
            files,
            f"{A}/rag/files",
            auth="viewer",
            expect=200,
            before=(_first_upload,),
        )
    )
    one = "GET /api/v1/rag/files/{file_id}"
    s += by_role("rag-file", one, f"{A}/rag/files/{SEEDED_FILE}", "viewer")
    s += [
        Scenario(
            "rag-file-unknown", one, f"{A}/rag/files/{UNKNOWN_FILE}", auth="viewer", expect=404
        ),
        Scenario(
            "rag-file-not-a-uuid", one, f"{A}/rag/files/not-a-uuid", auth="viewer", expect=404
        ),
        Scenario(
            "rag-file-uploaded",
            one,
            f"{A}/rag/files/{{prev.id}}",
            auth="viewer",
            expect=200,
            before=(_first_upload,),
        ),
    ]
    remove = "DELETE /api/v1/rag/files/{file_id}"
    s += by_role("rag-delete", remove, f"{A}/rag/files/{SEEDED_FILE_2}", "admin", ok=204)
    s += [
        Scenario(
            "rag-delete-unknown", remove, f"{A}/rag/files/{UNKNOWN_FILE}", auth="admin", expect=404
        ),
        Scenario(
            "rag-delete-uploaded",
            remove,
            f"{A}/rag/files/{{prev.id}}",
            auth="admin",
            expect=204,
            before=(_first_upload,),
        ),
        Scenario(
            "rag-delete-then-get",
            one,
            f"{A}/rag/files/{SEEDED_FILE_2}",
            auth="viewer",
            expect=404,
            before=(
                Scenario("rag-delete-step", remove, f"{A}/rag/files/{SEEDED_FILE_2}", auth="admin"),
            ),
        ),
        Scenario(
            "rag-delete-then-search",
            "GET /api/v1/rag/search",
            f"{A}/rag/search",
            auth="viewer",
            expect=200,
            query=(("q", "critical path"),),
            before=(
                Scenario("rag-delete-step", remove, f"{A}/rag/files/{SEEDED_FILE_2}", auth="admin"),
            ),
        ),
    ]
    search = "GET /api/v1/rag/search"
    spath = f"{A}/rag/search"
    s += by_role("rag-search", search, spath, "viewer", query=(("q", "abend restart"),))
    searches = [
        ("plan-extension", (("q", "plan extension"),), 200),
        ("top-k-1", (("q", "job"), ("top_k", "1")), 200),
        ("top-k-20", (("q", "job workstation"), ("top_k", "20")), 200),
        ("top-k-0", (("q", "job"), ("top_k", "0")), 400),
        ("top-k-21", (("q", "job"), ("top_k", "21")), 400),
        ("top-k-text", (("q", "job"), ("top_k", "many")), 400),
        ("q-missing", (), 400),
        ("q-empty", (("q", ""),), 400),
        ("q-200", (("q", "a" * 200),), 200),
        ("q-201", (("q", "a" * 201),), 400),
        ("q-punctuation-only", (("q", "!!! ???"),), 200),
        ("q-fts-syntax", (("q", 'abend" OR NEAR(x'),), 200),
        ("q-unicode", (("q", "über naïve"),), 200),
        ("q-case", (("q", "ABEND"),), 200),
        ("no-match", (("q", "xylophone"),), 200),
        ("q-missing-and-top-k-bad", (("top_k", "0"),), 400),
    ]
    s += [
        Scenario(f"rag-search-{name}", search, spath, auth="viewer", query=query, expect=expect)
        for name, query, expect in searches
    ]
    s.append(
        Scenario(
            "rag-search-after-upload",
            search,
            spath,
            auth="viewer",
            expect=200,
            query=(("q", "gamma"),),
            before=(_first_upload,),
        )
    )
    return s
