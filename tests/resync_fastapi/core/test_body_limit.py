"""413 for bodies over 1 MiB: by ``Content-Length`` before authentication, or while streaming."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tests.resync_fastapi.harness import AppHarness, assert_problem, mint, snapshot

LIMIT = 1024 * 1024
DETAIL = "The request body exceeds the limit of 1048576 bytes."


def test_a_declared_oversized_body_is_413_before_authentication(harness: AppHarness) -> None:
    response = harness.post(
        "/api/v1/chat", content=b"x" * (LIMIT + 1), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload-too-large", DETAIL)


def test_exactly_one_mib_is_read(harness: AppHarness) -> None:
    body = b'{"agent_id":"nope","message":"' + b"x" * (LIMIT - 40) + b'"}'
    assert len(body) <= LIMIT
    response = harness.post(
        "/api/v1/chat",
        token=mint("operator"),
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400  # read and validated: the message is too long


def test_a_streamed_body_is_counted_while_read(
    harness: AppHarness, module_database_url: str
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"agent_id":"tws-general","message":"'
        for _ in range(17):
            yield b"y" * 65536
        yield b'"}'

    before = snapshot(module_database_url)
    response = harness.post(
        "/api/v1/chat",
        token=mint("operator"),
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers  # sent chunked
    assert_problem(response, 413, "payload-too-large", DETAIL)
    assert snapshot(module_database_url) == before


def test_a_streamed_body_is_refused_before_authentication(harness: AppHarness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b"z" * 65536

    response = harness.post(
        "/api/v1/users", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload-too-large", DETAIL)


def test_a_small_streamed_body_reaches_the_app(harness: AppHarness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"agent_id": "nope",'
        yield b' "message": "hi"}'

    response = harness.post(
        "/api/v1/chat",
        token=mint("operator"),
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 404, "not-found", "Agent nope not found.")


def test_unknown_paths_stay_404_whatever_the_body(harness: AppHarness) -> None:
    response = harness.post("/api/v1/nope", content=b"x" * (LIMIT + 1))
    assert response.status_code == 404


def test_wrong_methods_stay_405_whatever_the_body(harness: AppHarness) -> None:
    response = harness.request("PUT", "/api/v1/chat", content=b"x" * (LIMIT + 1))
    assert response.status_code == 405


def test_a_streamed_body_of_exactly_one_mib_is_read(harness: AppHarness) -> None:
    head, tail = b'{"agent_id":"nope","message":"', b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        yield head
        yield b"x" * (LIMIT - len(head) - len(tail))
        yield tail

    response = harness.post(
        "/api/v1/chat",
        token=mint("operator"),
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400  # read and validated, not refused as too large


def test_a_request_without_body_framing_passes_and_a_declared_get_body_is_still_counted(
    harness: AppHarness,
) -> None:
    # No Content-Length and no Transfer-Encoding: no body, the middleware stays out of the way.
    plain = harness.get("/api/v1/auth/me", token=mint("viewer"))
    assert plain.status_code == 200
    assert "content-length" not in plain.request.headers
    # A GET that declares a body over the limit is refused as before.
    response = harness.request("GET", "/api/v1/auth/me", content=b"x" * (LIMIT + 1))
    assert_problem(response, 413, "payload-too-large", DETAIL)
