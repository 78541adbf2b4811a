"""Request ids: kept when valid, generated otherwise, and the dry-run header stripped."""

from __future__ import annotations

import re
import uuid

import pytest

from proxy.routing.requestid import ensure_request_id, new_request_id


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, list[tuple[bytes, bytes]]]:
    return {"headers": [(b"host", b"example"), *headers]}


def test_a_valid_client_id_is_kept_and_the_headers_untouched() -> None:
    scope = _scope((b"x-request-id", b"abc.DEF_1-2"))
    headers = scope["headers"]
    assert ensure_request_id(scope) == b"abc.DEF_1-2"
    assert scope["headers"] is headers


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"a" * 65, id="too-long"),
        pytest.param(b"has space", id="space"),
        pytest.param(b"semi;colon", id="punctuation"),
    ],
)
def test_an_invalid_client_id_is_replaced(value: bytes) -> None:
    scope = _scope((b"x-request-id", value))
    request_id = ensure_request_id(scope)
    assert re.fullmatch(rb"[0-9a-f]{32}", request_id)
    assert [v for k, v in scope["headers"] if k == b"x-request-id"] == [request_id]


def test_a_missing_id_is_generated_and_added() -> None:
    scope = _scope()
    request_id = ensure_request_id(scope)
    assert scope["headers"][-1] == (b"x-request-id", request_id)


def test_the_dry_run_header_never_passes() -> None:
    scope = _scope((b"x-request-id", b"keep"), (b"x-resync-dry-run", b"guess"))
    assert ensure_request_id(scope) == b"keep"
    assert all(name != b"x-resync-dry-run" for name, _ in scope["headers"])


def test_generated_ids_are_version_4_uuids() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for value in list(ids)[:50]:
        parsed = uuid.UUID(value.decode())
        assert parsed.version == 4 and parsed.hex == value.decode()
