"""The comparator: status, headers, JSON/text/bytes bodies, rules, noise and the readable diff."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from proxy.shadow.capture import CapturedResponse
from proxy.shadow.comparator import Comparator, NoiseLearner, compare_responses, format_diff
from proxy.shadow.differ import compare_json
from proxy.shadow.normalizers import NORMALIZERS
from proxy.shadow.rules import FieldPattern, RouteRules, RulesError, RuleSet, load_rules

JSON = "application/json"


def response(
    body: Any = None,
    *,
    status: int = 200,
    content_type: str = JSON,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    truncated: bool = False,
) -> CapturedResponse:
    if raw is None:
        raw = (
            b""
            if body is None
            else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        )
    header_list = [(b"content-type", content_type.encode())]
    header_list += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return CapturedResponse(status=status, headers=header_list, body=raw, truncated=truncated)


def rules_from(toml_defaults: dict[str, Any] | None = None) -> RouteRules:
    return RuleSet.from_mapping({"version": 1, "defaults": toml_defaults or {}}).defaults


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def token(**overrides: Any) -> str:
    claims = {
        "iss": "resync",
        "aud": "resync-api",
        "sub": "admin",
        "role": "admin",
        "typ": "access",
        "jti": "a" * 32,
        "sid": "b" * 32,
        "iat": 1_800_000_000,
        "exp": 1_800_001_800,
    }
    claims.update(overrides)
    return jwt(claims)


DEFAULT = load_rules().defaults


@pytest.mark.parametrize(
    ("expected", "actual", "rules", "equal"),
    [
        pytest.param(response({"a": 1}), response({"a": 1}), DEFAULT, True, id="identical-json"),
        pytest.param(
            response({"a": 1}, headers={"x-request-id": "one", "date": "Mon"}),
            response({"a": 1}, headers={"x-request-id": "two", "date": "Tue"}),
            DEFAULT,
            True,
            id="request-id-and-date-headers-not-compared",
        ),
        pytest.param(
            response({"a": 1}), response({"a": 1}, status=201), DEFAULT, False, id="status"
        ),
        pytest.param(
            response({"a": 1}),
            response({"a": 1}, content_type="application/problem+json"),
            DEFAULT,
            False,
            id="content-type",
        ),
        pytest.param(
            response({"a": 1}, headers={"allow": "GET, HEAD"}),
            response({"a": 1}, headers={"allow": "GET"}),
            DEFAULT,
            False,
            id="allow-header",
        ),
        pytest.param(
            response({"type": "x", "request_id": "r1"}),
            response({"type": "x", "request_id": "r2"}),
            DEFAULT,
            True,
            id="problem-request-id-ignored",
        ),
        pytest.param(response({"n": 0.0}), response({"n": 0}), DEFAULT, False, id="float-vs-int"),
        pytest.param(response({"n": True}), response({"n": 1}), DEFAULT, False, id="bool-vs-int"),
        pytest.param(
            response({"a": 1, "b": 2}),
            response({"b": 2, "a": 1}),
            DEFAULT,
            False,
            id="key-order-checked",
        ),
        pytest.param(
            response({"a": 1, "b": 2}),
            response({"b": 2, "a": 1}),
            rules_from({"check_key_order": False}),
            True,
            id="key-order-off",
        ),
        pytest.param(
            response({"a": "é"}),
            response(raw=b'{"a": "\\u00e9"}\n'),
            DEFAULT,
            False,
            id="json-encoding-checked",
        ),
        pytest.param(
            response({"access_token": token(jti="1" * 32, iat=1, exp=1801)}),
            response({"access_token": token(jti="2" * 32, iat=7, exp=1807)}),
            DEFAULT,
            True,
            id="jwt-volatile-claims-normalised",
        ),
        pytest.param(
            response({"access_token": token(role="admin")}),
            response({"access_token": token(role="viewer")}),
            DEFAULT,
            False,
            id="jwt-role-claim-compared",
        ),
        pytest.param(
            response({"access_token": token(iat=1, exp=1801)}),
            response({"access_token": token(iat=1, exp=3601)}),
            DEFAULT,
            False,
            id="jwt-lifetime-compared",
        ),
        pytest.param(
            response({"generated_at": "2026-11-26T10:00:00Z"}),
            response({"generated_at": "2026-11-26T11:59:59Z"}),
            DEFAULT,
            True,
            id="generated-at-normalised",
        ),
        pytest.param(
            response({"generated_at": "2026-11-26T10:00:00Z"}),
            response({"generated_at": "Thu, 26 Nov 2026 10:00:00 GMT"}),
            DEFAULT,
            False,
            id="rfc822-date-still-a-difference",
        ),
        pytest.param(
            response({"items": [{"created_at": "2026-11-26T10:00:00Z"}]}),
            response({"items": [{"created_at": "2026-11-26T10:00:05Z"}]}),
            DEFAULT,
            True,
            id="created-at-within-tolerance",
        ),
        pytest.param(
            response({"items": [{"created_at": "2026-11-26T10:00:00Z"}]}),
            response({"items": [{"created_at": "2026-11-26T12:00:00Z"}]}),
            DEFAULT,
            False,
            id="created-at-beyond-tolerance",
        ),
        pytest.param(
            response({"items": [{"created_at": "2026-11-26T10:00:00Z"}]}),
            response({"items": [{"created_at": "2026-11-26T10:00:00.123456Z"}]}),
            DEFAULT,
            False,
            id="created-at-microseconds-a-difference",
        ),
        pytest.param(
            response({"id": "6f1c1b8e-3d2a-4c5b-9a7e-1f2e3d4c5b6a"}),
            response({"id": "0a9b8c7d-6e5f-4a3b-8c1d-2e3f4a5b6c7d"}),
            load_rules().for_route("POST /api/v1/rag/upload"),
            True,
            id="upload-uuid4-normalised",
        ),
        pytest.param(
            response({"id": "6f1c1b8e-3d2a-5c5b-9a7e-1f2e3d4c5b6a"}),
            response({"id": "0a9b8c7d-6e5f-5a3b-8c1d-2e3f4a5b6c7d"}),
            load_rules().for_route("POST /api/v1/rag/upload"),
            False,
            id="seeded-uuid5-not-normalised",
        ),
        pytest.param(
            response({"tags": ["a", "b", "b"]}),
            response({"tags": ["b", "a", "b"]}),
            rules_from({"unordered": ["tags"]}),
            True,
            id="unordered-array",
        ),
        pytest.param(
            response({"tags": ["a", "b", "b"]}),
            response({"tags": ["b", "a", "a"]}),
            rules_from({"unordered": ["tags"]}),
            False,
            id="unordered-array-counts-duplicates",
        ),
        pytest.param(
            response({"tags": ["a", "b"]}),
            response({"tags": ["b", "a"]}),
            DEFAULT,
            False,
            id="arrays-ordered-by-default",
        ),
        pytest.param(
            response({"results": [{"score": 1.2345}]}),
            response({"results": [{"score": 1.2346}]}),
            rules_from({"tolerance": {"results[*].score": 0.0001}}),
            True,
            id="numeric-tolerance",
        ),
        pytest.param(
            response({"results": [{"score": 1.2345}]}),
            response({"results": [{"score": 1.2347}]}),
            rules_from({"tolerance": {"results[*].score": 0.0001}}),
            False,
            id="numeric-tolerance-exceeded",
        ),
        pytest.param(
            response(raw=b"a,b\r\n1,2\r\n", content_type="text/csv; charset=utf-8"),
            response(raw=b"a,b\r\n1,2\r\n", content_type="text/csv; charset=utf-8"),
            DEFAULT,
            True,
            id="identical-text",
        ),
        pytest.param(
            response(raw=b"a,b\r\n1,2\r\n", content_type="text/csv; charset=utf-8"),
            response(raw=b"a,b\n1,2\n", content_type="text/csv; charset=utf-8"),
            DEFAULT,
            False,
            id="text-compared-exactly",
        ),
        pytest.param(
            response(raw=b"\x00\x01\xff", content_type="application/octet-stream"),
            response(raw=b"\x00\x02\xff", content_type="application/octet-stream"),
            DEFAULT,
            False,
            id="bytes-compared-exactly",
        ),
        pytest.param(
            response(
                raw=b'{"id":1,"created_at":"2026-11-26T10:00:00Z"}\n',
                content_type="application/x-ndjson",
            ),
            response(
                raw=b'{"id":1,"created_at":"2026-11-26T10:00:01Z"}\n',
                content_type="application/x-ndjson",
            ),
            DEFAULT,
            True,
            id="ndjson-parsed-per-line",
        ),
        pytest.param(
            response(raw=b"", content_type="application/json", status=204),
            response(raw=b"", content_type="application/json", status=204),
            DEFAULT,
            True,
            id="empty-bodies",
        ),
    ],
)
def test_compare_responses(
    expected: CapturedResponse, actual: CapturedResponse, rules: RouteRules, equal: bool
) -> None:
    comparison = compare_responses(expected, actual, rules)
    assert comparison.equal is equal, format_diff(comparison)
    assert (not comparison.differences) is equal


def test_every_difference_has_a_json_pointer_and_both_values() -> None:
    expected = response({"items": [{"name": "a", "tools": ["x"]}, {"name": "b/c~d"}], "total": 2})
    actual = response({"items": [{"name": "A", "tools": []}, {"name": "b/c~d", "extra": 1}]})

    comparison = compare_responses(expected, actual, DEFAULT)

    found = {
        (d.path, d.kind, json.dumps(d.expected, default=str), json.dumps(d.actual, default=str))
        for d in comparison.differences
    }
    assert ("/items/0/name", "value", '"a"', '"A"') in found
    assert ("/items/0/tools/0", "missing", '"x"', "null") not in found  # absent, not null
    assert {d.path for d in comparison.differences} == {
        "/items/0/name",
        "/items/0/tools/0",
        "/items/1/extra",
        "/total",
    }
    kinds = {d.path: d.kind for d in comparison.differences}
    assert kinds["/items/1/extra"] == "unexpected"
    assert kinds["/total"] == "missing"


def test_pointer_escapes_slash_and_tilde() -> None:
    comparison = compare_responses(response({"a/b": {"~c": 1}}), response({"a/b": {"~c": 2}}))
    assert [d.path for d in comparison.differences] == ["/a~1b/~0c"]


def test_format_diff_shows_location_and_both_values() -> None:
    expected = response({"status": "LINKED", "total": 8}, headers={"retry-after": "60"})
    actual = response({"status": "UNLINKED", "total": 8}, status=500)

    text = format_diff(compare_responses(expected, actual, DEFAULT), title="GET /api/v1/x")

    assert text.splitlines()[0] == "GET /api/v1/x"
    assert "3 differences" in text
    assert "status [value]" in text and "expected: 200" in text and "actual:   500" in text
    assert "header retry-after [missing]" in text
    assert "body /status [value]" in text
    assert 'expected: "LINKED"' in text and 'actual:   "UNLINKED"' in text


def test_format_diff_of_text_bodies_shows_the_first_differing_line() -> None:
    expected = response(raw=b"id,name\r\n1,a\r\n", content_type="text/csv")
    actual = response(raw=b"id,name\r\n1,b\r\n", content_type="text/csv")

    comparison = compare_responses(expected, actual, DEFAULT)
    text = format_diff(comparison)

    assert [d.path for d in comparison.differences] == ["#L2"]
    assert "- 1,a" in text and "+ 1,b" in text


def test_differences_beyond_the_limit_are_counted_not_listed() -> None:
    rules = rules_from({"max_differences": 3})
    comparison = compare_responses(response(list(range(10))), response(list(range(1, 11))), rules)
    assert len(comparison.differences) == 3
    assert comparison.omitted == 7
    assert "and 7 more" in format_diff(comparison)


def test_truncated_bodies_compare_their_common_prefix() -> None:
    long = b"x" * 100
    same = compare_responses(
        response(raw=long, content_type="text/plain", truncated=True),
        response(raw=long + b"tail", content_type="text/plain"),
        DEFAULT,
    )
    different = compare_responses(
        response(raw=long, content_type="text/plain", truncated=True),
        response(raw=b"y" + long, content_type="text/plain"),
        DEFAULT,
    )
    assert same.equal and same.truncated
    assert not different.equal and different.differences[0].kind == "bytes"


def test_noise_learnt_from_a_second_primary_answer_is_reported_as_noise() -> None:
    first = response({"served_at": "10:00:00.1", "name": "a", "count": 1})
    second = response({"served_at": "10:00:00.2", "name": "a", "count": 1})
    candidate = response({"served_at": "10:00:00.3", "name": "b", "count": 1})

    comparison = compare_responses(first, candidate, DEFAULT, secondary=second)

    assert not comparison.equal
    assert [d.path for d in comparison.differences] == ["/name"]
    assert [d.path for d in comparison.noise] == ["/served_at"]
    assert "noise" in format_diff(comparison)


def test_only_noise_means_equal() -> None:
    first = response({"nonce": 1})
    comparison = compare_responses(
        first, response({"nonce": 3}), DEFAULT, secondary=response({"nonce": 2})
    )
    assert comparison.equal and len(comparison.noise) == 1


def test_noise_learner_generalises_array_indices_per_route() -> None:
    comparator = Comparator(load_rules(), learner=NoiseLearner())
    route = "GET /api/v1/things"
    comparator.compare(
        route,
        response({"items": [{"seen": 1}, {"seen": 1}]}),
        response({"items": [{"seen": 1}, {"seen": 1}]}),
        secondary=response({"items": [{"seen": 2}, {"seen": 1}]}),
    )

    later = comparator.compare(
        route,
        response({"items": [{"seen": 5, "name": "a"}] * 3}),
        response(
            {
                "items": [
                    {"seen": 6, "name": "a"},
                    {"seen": 7, "name": "a"},
                    {"seen": 5, "name": "z"},
                ]
            }
        ),
    )
    other_route = comparator.compare(
        "GET /api/v1/other", response({"items": [{"seen": 5}]}), response({"items": [{"seen": 6}]})
    )

    assert [d.path for d in later.differences] == ["/items/2/name"]
    assert sorted(d.path for d in later.noise) == ["/items/0/seen", "/items/1/seen"]
    assert not other_route.equal


def test_noise_learner_is_bounded() -> None:
    learner = NoiseLearner(max_routes=2, max_keys_per_route=1)
    for route in ("a", "b", "c"):
        learner.learn(route, response({"x": 1, "y": 1}), response({"x": 2, "y": 2}), DEFAULT)
    assert learner.keys("a") == frozenset()
    assert len(learner.keys("c")) == 1


def test_compare_json_diffs_database_rows_with_the_same_rules() -> None:
    rules = rules_from({"normalize": {"[*].password_hash": "present"}})
    found, omitted = compare_json(
        [{"id": 1, "password_hash": "$argon2id$a"}, {"id": 2, "password_hash": "$argon2id$b"}],
        [{"id": 1, "password_hash": "$argon2id$c"}, {"id": 3, "password_hash": "$argon2id$d"}],
        rules,
    )
    assert [(d.path, d.expected, d.actual) for d in found] == [("/1/id", 2, 3)]
    assert omitted == 0


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        pytest.param("request_id", ("request_id",), True, id="top-level-key"),
        pytest.param("request_id", ("errors", 0, "request_id"), False, id="top-level-only"),
        pytest.param("items[*].created_at", ("items", 3, "created_at"), True, id="any-index"),
        pytest.param(
            "items[*].created_at", ("items", "3", "created_at"), False, id="index-not-key"
        ),
        pytest.param("items[1].id", ("items", 1, "id"), True, id="one-index"),
        pytest.param("items[1].id", ("items", 2, "id"), False, id="other-index"),
        pytest.param("*.name", ("plan", "name"), True, id="any-key"),
        pytest.param("**.created_at", ("created_at",), True, id="any-depth-root"),
        pytest.param("**.created_at", ("a", 0, "b", "created_at"), True, id="any-depth-deep"),
        pytest.param("[*].id", (4, "id"), True, id="top-level-array"),
    ],
)
def test_field_patterns(pattern: str, path: tuple[str | int, ...], matches: bool) -> None:
    assert FieldPattern.parse(pattern).matches(path) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("", id="empty"),
        pytest.param("a..b", id="empty-segment"),
        pytest.param("a.", id="trailing-dot"),
        pytest.param("a[x]", id="bad-index"),
        pytest.param(" a", id="whitespace"),
    ],
)
def test_malformed_field_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(RulesError):
        FieldPattern.parse(pattern)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param({"version": 2}, "version 2 is not supported", id="future-version"),
        pytest.param({}, "version None", id="no-version"),
        pytest.param({"version": 1, "extra": {}}, "unknown top-level", id="unknown-table"),
        pytest.param(
            {"version": 1, "defaults": {"normalize": {"id": "rot13"}}},
            "unknown normaliser",
            id="unknown-normaliser",
        ),
        pytest.param(
            {"version": 1, "defaults": {"tolerance": {"x": -1}}}, "non-negative", id="negative"
        ),
        pytest.param(
            {"version": 1, "defaults": {"ignroe": ["x"]}}, "unknown keys", id="misspelt-key"
        ),
        pytest.param(
            {"version": 1, "routes": {"agents": {}}}, "is not 'METHOD /path'", id="bad-route-key"
        ),
    ],
)
def test_bad_rules_are_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(RulesError, match=message):
        RuleSet.from_mapping(document)


def test_route_rules_extend_the_defaults_and_ignore_parameter_names() -> None:
    rules = load_rules()
    by_other_name = rules.for_route("GET /api/v1/rag/files/{id}")
    assert by_other_name.normalizer_for(("id",)) == "uuid4"
    assert by_other_name.normalizer_for(("access_token",)) == "jwt"  # inherited
    assert by_other_name.is_ignored(("request_id",))
    assert rules.for_route("GET /api/v1/agents").normalizer_for(("id",)) is None
    assert rules.for_route(None) is rules.defaults


def test_packaged_rules_file_is_version_1_and_compares_the_contract_headers(
    tmp_path: Path,
) -> None:
    rules = load_rules()
    assert rules.version == 1
    assert set(rules.defaults.headers_to_compare()) == {
        "content-type",
        "location",
        "allow",
        "retry-after",
        "www-authenticate",
        "content-disposition",
    }
    assert "x-request-id" not in rules.defaults.headers_to_compare()
    bad = tmp_path / "rules.toml"
    bad.write_text("version = [", encoding="utf-8")
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(bad)


def test_retry_after_tolerance_applies_to_login_only() -> None:
    login = load_rules().for_route("POST /api/v1/auth/login")
    expected = response({"status": 429}, status=429, headers={"retry-after": "899"})
    actual = response({"status": 429}, status=429, headers={"retry-after": "900"})
    assert compare_responses(expected, actual, login).equal
    assert not compare_responses(expected, actual, load_rules().defaults).equal


@pytest.mark.parametrize(
    ("name", "value", "normalised"),
    [
        pytest.param("timestamp", "2026-11-26T10:00:00Z", "<timestamp>", id="timestamp"),
        pytest.param("timestamp", "2026-11-26 10:00:00", "2026-11-26 10:00:00", id="not-rfc3339"),
        pytest.param("hex32", "0" * 32, "<hex32>", id="hex32"),
        pytest.param("sha256", "f" * 64, "<sha256>", id="sha256"),
        pytest.param("request_id", "abc.DEF-1_2", "<request-id>", id="request-id"),
        pytest.param("uuid4", 42, 42, id="uuid4-leaves-integers"),
        pytest.param("jwt", "not.a.jwt!", "not.a.jwt!", id="jwt-leaves-non-tokens"),
        pytest.param("present", None, "<present>", id="present"),
    ],
)
def test_normalisers(name: str, value: Any, normalised: Any) -> None:
    assert NORMALIZERS[name](value) == normalised
