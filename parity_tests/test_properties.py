"""Property-based tests: requests generated from the FastAPI app's OpenAPI schema.

Schemathesis draws valid (positive) and invalid (negative) requests for every operation both
sides serve; each request goes to both implementations, each on its own copy of the database.
Each side's answer must conform to the spec (Schemathesis' own response checks: no server
error, a documented status, content type, headers and body schema, valid input accepted and
invalid input refused: what ``schemathesis run -c all`` checks per response), and the two answers
are compared with the proxy's comparator. Generated writes change state, but both sides see the
same sequence of requests, so their states stay equal as long as they agree. Examples are
derandomised: a run is reproducible and a failure stays a failure. The checks that send
requests of their own (ignored auth, unsupported methods, stateful links) are left to
``schemathesis run`` against a served proxy (docs/testing.md).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import parity_tests.schemathesis_hooks  # noqa: F401 - registers the upload's text files
from parity_tests.conftest import LegacySide, NewSide, ParityEnv, new_app
from parity_tests.harness import preview
from proxy.shadow.comparator import format_diff
from resync_scenarios import multipart
from tests.services import TwsSim

EXAMPLES_PER_OPERATION = 6
# Each of these hashes or verifies a password with argon2 (deliberately slow) on both sides.
FEWER_EXAMPLES = {"POST /api/v1/auth/login": 3, "POST /api/v1/users": 3}
# Logging out would revoke the token every later example presents.
EXCLUDED = {"POST /api/v1/auth/logout"}
SHARED_PREFIXES = ("/api/v1/", "/health/")


def _schema() -> Any:
    import schemathesis

    sim = TwsSim(base_url="http://127.0.0.1:9")
    return schemathesis.openapi.from_dict(new_app("sqlite:///var/unused-openapi.db", sim).openapi())


def _operation_keys() -> list[str]:
    keys = []
    for result in _schema().get_all_operations():
        operation = result.ok()
        key = f"{operation.method.upper()} {operation.path}"
        if key not in EXCLUDED and operation.path.startswith(SHARED_PREFIXES):
            keys.append(key)
    return sorted(keys)


try:
    OPERATIONS = _operation_keys()
except Exception as exc:  # the app is broken: report it as one failing case, not a crash
    OPERATIONS = [f"(schema unavailable: {type(exc).__name__}: {exc})"]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, sort_keys=True)


def _pairs(mapping: dict[str, Any]) -> list[tuple[str, str | int | float | bool | None]]:
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in mapping.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((str(key), _text(item)))
    return pairs


def to_request(kwargs: dict[str, Any], authorization: str) -> httpx.Request:
    """Turn schemathesis's transport arguments into one deterministic ``httpx.Request``."""
    headers = {
        k: v
        for k, v in kwargs.get("headers", {}).items()
        if k.lower() in ("content-type", "accept")
    }
    headers["Authorization"] = authorization
    content: bytes | None = None
    if "json" in kwargs:
        content = json.dumps(kwargs["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif kwargs.get("files") is not None:
        parts = []
        for name, spec in kwargs["files"]:
            filename, value = spec[0], spec[1]
            raw = value if isinstance(value, bytes) else _text(value).encode("utf-8", "replace")
            parts.append((str(name), filename, raw, None))
        content, headers["Content-Type"] = multipart(parts)
    elif isinstance(kwargs.get("data"), dict):
        content = urlencode(_pairs(kwargs["data"])).encode()
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        content = data if isinstance(data, bytes) else _text(data).encode("utf-8", "replace")
    return httpx.Request(
        kwargs["method"],
        kwargs["url"],
        params=_pairs(kwargs.get("params") or {}) or None,
        headers=headers,
        content=content,
    )


def _response_checks() -> list[Any]:
    """Schemathesis' checks that judge one answer on its own (``-c all`` minus the re-senders)."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks

    return [
        not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_headers_conformance,
        checks.response_schema_conformance,
        checks.negative_data_rejection,
        checks.positive_data_acceptance,
    ]


def as_httpx(request: httpx.Request, answer: Any) -> httpx.Response:
    """The captured answer as the ``httpx.Response`` Schemathesis validates."""
    response = httpx.Response(
        answer.status,
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.headers],
        content=answer.body,
        request=request,
    )
    response.elapsed = timedelta(0)  # answered in-process: no transport timed it
    return response


def conformance_failure(case: Any, request: httpx.Request, answer: Any) -> str | None:
    """Schemathesis' verdict on one side's answer: ``None`` when it conforms to the spec."""
    try:
        case.validate_response(as_httpx(request, answer), checks=_response_checks())
    except Exception as exc:  # schemathesis raises a failure group naming every failed check
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="module")
def property_pair(parity_env: ParityEnv) -> Iterator[tuple[LegacySide, NewSide]]:
    """Both apps on fresh copies, shared by every generated request of the module."""
    legacy, new, *urls = parity_env.open_pair("properties")
    yield legacy, new
    parity_env.close_pair(legacy, new, *urls)


@pytest.mark.parametrize("parity_env", ["sqlite"], indirect=True)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_generated_requests_answer_alike(
    operation: str,
    parity_env: ParityEnv,
    property_pair: tuple[LegacySide, NewSide],
    tws_sim: TwsSim,
) -> None:
    from schemathesis import GenerationMode

    assert not operation.startswith("("), operation
    method, path = operation.split(" ", 1)
    found = _schema().get_all_operations()
    api_operation = next(
        r.ok() for r in found if r.ok().method.upper() == method and r.ok().path == path
    )
    strategies = [api_operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
    with contextlib.suppress(Exception):  # some operations have no invalid form to generate
        strategies.append(api_operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    legacy, new = property_pair
    authorization = parity_env.credentials.authorization("admin")
    assert authorization is not None

    @settings(
        max_examples=FEWER_EXAMPLES.get(operation, EXAMPLES_PER_OPERATION),
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(*strategies))
    def answers_alike(case: Any) -> None:
        request = to_request(case.as_transport_kwargs(base_url="http://testserver"), authorization)
        left, right = legacy.send(request), new.send(request)
        body = request.content[:300].decode("utf-8", "replace") if request.content else ""
        for side, answer in (("legacy", left), ("new", right)):
            failure = conformance_failure(case, request, answer)
            assert failure is None, (
                f"{side} answered {operation} against the spec\n"
                f"request: {request.method} {request.url} {body}\n{failure}\n"
                f"answer: {preview(answer)}"
            )
        comparison = parity_env.comparator.compare(operation, left, right)
        assert comparison.equal, (
            f"parity mismatch on generated request for {operation}\n"
            f"request: {request.method} {request.url} {body}\n"
            f"{format_diff(comparison)}\n"
            f"legacy answered: {preview(left)}\nnew answered:    {preview(right)}"
        )

    answers_alike()
