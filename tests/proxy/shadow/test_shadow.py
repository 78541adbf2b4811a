"""Shadow mode: bounded, sampled, isolated background comparison of the candidate side."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from proxy.shadow.capture import CapturedResponse, ResponseRecorder, call_asgi
from proxy.shadow.comparator import Comparator
from proxy.shadow.mismatches import MismatchStore
from proxy.shadow.runner import ShadowJob, ShadowRunner
from proxy.telemetry.metrics import ProxyMetrics
from proxy.types import Message, Receive, Scope, Send

pytestmark = pytest.mark.anyio

ROUTE = "GET /api/v1/agents"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def scope_for(
    method: str = "GET",
    path: str = "/api/v1/agents",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers if headers is not None else [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }


class JsonApp:
    """A small ASGI app answering JSON and remembering what it was asked."""

    def __init__(self, body: Any, *, status: int = 200) -> None:
        self.body = body
        self.status = status
        self.calls: list[tuple[Scope, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = b""
        while True:
            message = await receive()
            received += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.calls.append((scope, received))
        scope["path_params"] = {"mutated": True}
        scope["headers"].append((b"x-mutated", b"1"))
        payload = json.dumps(self.body(scope) if callable(self.body) else self.body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class BlockingApp:
    """An ASGI app that waits until released: a hang, or just a slow candidate."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.started += 1
        await self.release.wait()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"[]"})


async def crashing_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("candidate blew up")


async def exiting_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise SystemExit(3)


def primary(body: Any = (), status: int = 200) -> CapturedResponse:
    return CapturedResponse(
        status=status,
        headers=[(b"content-type", b"application/json")],
        body=json.dumps(list(body) if isinstance(body, tuple) else body).encode(),
    )


def job(
    candidate: Any,
    *,
    method: str = "GET",
    body: bytes = b"",
    dry_run: bool = False,
    expected: CapturedResponse | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    primary_app: Any = None,
) -> ShadowJob:
    return ShadowJob(
        route=f"{method} /api/v1/agents",
        candidate_app=candidate,
        candidate_side="new",
        scope=scope_for(method, headers=headers),
        body=body,
        primary=expected or primary(),
        dry_run=dry_run,
        primary_app=primary_app,
    )


@pytest.fixture
def metrics() -> ProxyMetrics:
    return ProxyMetrics()


@pytest.fixture
def make_runner(metrics: ProxyMetrics) -> Iterator[Callable[..., ShadowRunner]]:
    def make(**options: Any) -> ShadowRunner:
        options.setdefault("comparator", Comparator())
        options.setdefault("mismatch_store", MismatchStore(limit=10))
        options.setdefault("metrics", metrics)
        return ShadowRunner(**options)

    yield make


async def test_matching_candidate_is_counted_as_a_match(make_runner, metrics) -> None:
    runner = make_runner()
    candidate = JsonApp([])

    assert runner.submit(job(candidate)) is True
    assert await runner.drain(5)

    assert metrics.shadow_counts()[ROUTE]["match"] == 1
    assert runner.mismatch_store.count() == 0
    assert len(candidate.calls) == 1


async def test_mismatch_is_counted_and_stored_with_a_readable_diff(make_runner, metrics) -> None:
    runner = make_runner()

    runner.submit(
        job(JsonApp([{"id": "tws-general"}]), expected=primary([{"id": "tws-reporting"}]))
    )
    await runner.drain(5)

    assert metrics.shadow_counts()[ROUTE] == {"match": 0, "mismatch": 1, "error": 0, "dropped": 0}
    [record] = runner.mismatch_store.list()
    assert record["route"] == ROUTE and record["primary_side"] == "legacy"
    assert "body /0/id [value]" in record["diff"]
    assert '"tws-reporting"' in record["diff"] and '"tws-general"' in record["diff"]


async def test_saturated_runner_drops_and_counts_instead_of_queueing(make_runner, metrics) -> None:
    runner = make_runner(max_concurrency=2)
    candidate = BlockingApp()

    accepted = [runner.submit(job(candidate)) for _ in range(5)]
    await asyncio.sleep(0)  # let the admitted calls start

    assert accepted == [True, True, False, False, False]
    assert runner.inflight == 2
    assert candidate.started == 2
    assert metrics.shadow_counts()[ROUTE]["dropped"] == 3

    candidate.release.set()
    assert await runner.drain(5)
    assert runner.inflight == 0
    assert candidate.started == 2  # the dropped jobs never ran later
    assert runner.submit(job(candidate)) is True  # capacity is back
    await runner.drain(5)
    assert metrics.shadow_counts()[ROUTE]["match"] == 3


async def test_zero_concurrency_drops_everything(make_runner, metrics) -> None:
    runner = make_runner(max_concurrency=0)
    assert runner.submit(job(JsonApp([]))) is False
    assert metrics.shadow_counts()[ROUTE]["dropped"] == 1


@pytest.mark.parametrize(
    ("rate", "draws", "expected"),
    [
        pytest.param(0.5, [0.1, 0.9, 0.4, 0.6, 0.5], [True, False, True, False, False], id="half"),
        pytest.param(0.0, [0.0, 0.3], [False, False], id="never"),
        pytest.param(1.0, [0.99, 0.0], [True, True], id="always"),
    ],
)
async def test_sample_rate_picks_which_requests_are_shadowed(
    make_runner, metrics, rate, draws, expected
) -> None:
    numbers = iter(draws)
    runner = make_runner(sample_rate=rate, rng=lambda: next(numbers))
    candidate = JsonApp([])

    accepted = [runner.submit(job(candidate)) for _ in draws]
    await runner.drain(5)

    assert accepted == expected
    assert len(candidate.calls) == sum(expected)
    assert runner.counts["sampled_out"] == len(expected) - sum(expected)
    assert metrics.shadow_counts().get(ROUTE, {}).get("dropped", 0) == 0


async def test_crashing_candidate_is_an_error_and_never_reaches_the_client(
    make_runner, metrics
) -> None:
    runner = make_runner()
    client_messages: list[Message] = []

    async def client_send(message: Message) -> None:
        client_messages.append(message)

    app = shadowing_dispatcher(runner, JsonApp(["primary answer"]), crashing_app)
    await app(scope_for(), receive_nothing, client_send)
    await runner.drain(5)

    assert client_messages[0]["status"] == 200
    assert client_messages[1]["body"] == b'["primary answer"]'
    assert metrics.shadow_counts()[ROUTE]["error"] == 1
    [record] = runner.mismatch_store.list()
    assert record["result"] == "error" and "RuntimeError: candidate blew up" in record["error"]


async def test_system_exit_in_the_candidate_is_contained(make_runner, metrics) -> None:
    runner = make_runner()
    runner.submit(job(exiting_app))
    await runner.drain(5)
    assert metrics.shadow_counts()[ROUTE]["error"] == 1


async def test_hanging_candidate_times_out_after_the_client_was_answered(
    make_runner, metrics
) -> None:
    runner = make_runner(timeout=0.2)
    hanging = BlockingApp()  # never released
    client_messages: list[Message] = []

    async def client_send(message: Message) -> None:
        client_messages.append(message)

    app = shadowing_dispatcher(runner, JsonApp([]), hanging)
    await app(scope_for(), receive_nothing, client_send)

    # The client has its whole answer while the candidate is still hanging.
    assert [m["type"] for m in client_messages] == ["http.response.start", "http.response.body"]
    assert runner.inflight == 1
    assert await runner.drain(5)
    assert metrics.shadow_counts()[ROUTE]["error"] == 1
    assert "did not answer within 0.2 s" in runner.mismatch_store.list()[0]["error"]
    assert runner.inflight == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_unsafe_methods_are_not_shadowed_without_dry_run(make_runner, method) -> None:
    runner = make_runner(dry_run_key="k" * 32)
    candidate = JsonApp([])
    assert runner.submit(job(candidate, method=method, dry_run=False)) is False
    await runner.drain(5)
    assert candidate.calls == []
    assert runner.counts["skipped"] == 1


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
async def test_every_method_the_router_calls_safe_is_shadowed_without_dry_run(
    make_runner, method
) -> None:
    from proxy.modes import Mode, RouteFlag
    from proxy.routing import decide
    from proxy.shadow import runner as shadow

    flag = RouteFlag(route="GET /x", mode=Mode.SHADOW)
    decision = decide.decide(flag, {"type": "http", "method": method, "headers": []})
    assert decision.shadow is not None  # the router sends it to the shadow runner...
    runner = make_runner(dry_run_key=None)
    candidate = JsonApp([])
    assert runner.submit(job(candidate, method=method, dry_run=False)) is True  # ...which runs it
    assert await runner.drain(5)
    assert len(candidate.calls) == 1
    assert shadow.SAFE_METHODS is decide.SAFE_METHODS


async def test_dry_run_needs_a_configured_key(make_runner) -> None:
    runner = make_runner(dry_run_key=None)
    candidate = JsonApp([])
    assert runner.submit(job(candidate, method="POST", dry_run=True)) is False
    assert candidate.calls == []


async def test_dry_run_shadow_carries_the_key_and_the_body(make_runner) -> None:
    runner = make_runner(dry_run_key="the-dry-run-key")
    candidate = JsonApp([])
    body = b'{"agent_id":"tws-general","message":"job X"}'
    client_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-resync-dry-run", b"forged-by-client"),
    ]

    assert runner.submit(
        job(candidate, method="POST", body=body, dry_run=True, headers=client_headers)
    )
    await runner.drain(5)

    [(scope, received)] = candidate.calls
    assert received == body
    dry_run = [v for k, v in scope["headers"] if k == b"x-resync-dry-run"]
    assert dry_run == [b"the-dry-run-key"]
    assert [v for k, v in scope["headers"] if k == b"content-length"] == [str(len(body)).encode()]


async def test_client_supplied_dry_run_header_is_stripped_from_safe_shadows(make_runner) -> None:
    runner = make_runner(dry_run_key="the-dry-run-key")
    candidate = JsonApp([])
    runner.submit(job(candidate, headers=[(b"x-resync-dry-run", b"x")]))
    await runner.drain(5)
    [(scope, _)] = candidate.calls
    assert all(k != b"x-resync-dry-run" for k, _ in scope["headers"])


async def test_candidate_gets_a_fresh_scope_and_cannot_touch_the_primarys(make_runner) -> None:
    runner = make_runner()
    shadow_job = job(JsonApp([]))
    shadow_job.scope["router"] = object()
    shadow_job.scope["state"]["engine"] = "primary-state"
    before = {k: (list(v) if isinstance(v, list) else v) for k, v in shadow_job.scope.items()}

    runner.submit(shadow_job)
    await runner.drain(5)

    [(scope, _)] = shadow_job.candidate_app.calls
    assert "router" not in scope
    assert (
        scope["state"] == {"engine": "primary-state"}
        and scope["state"] is not shadow_job.scope["state"]
    )
    assert shadow_job.scope["headers"] == before["headers"]
    assert "path_params" not in shadow_job.scope


async def test_noise_learning_runs_the_primary_twice_for_safe_methods(make_runner, metrics) -> None:
    counter = iter(range(100))
    legacy = JsonApp(lambda scope: {"nonce": next(counter), "name": "a"})
    runner = make_runner(learn_noise=True)

    runner.submit(
        job(
            JsonApp({"nonce": 99, "name": "a"}),
            expected=primary({"nonce": 1000, "name": "a"}),
            primary_app=legacy,
        )
    )
    await runner.drain(5)
    runner.submit(
        job(JsonApp({"nonce": 98, "name": "b"}), expected=primary({"nonce": 1001, "name": "a"}))
    )
    await runner.drain(5)

    assert len(legacy.calls) == 1
    assert metrics.shadow_counts()[ROUTE]["match"] == 1
    [record] = runner.mismatch_store.list()
    assert [d["path"] for d in record["differences"]] == ["/name"]
    assert [d["path"] for d in record["noise"]] == ["/nonce"]


async def test_closed_runner_takes_no_more_jobs(make_runner) -> None:
    runner = make_runner()
    candidate = BlockingApp()
    runner.submit(job(candidate))
    await runner.aclose(grace=0.05)
    assert runner.inflight == 0
    assert runner.submit(job(JsonApp([]))) is False


async def test_metrics_can_be_a_plain_callback() -> None:
    seen: list[tuple[str, str]] = []
    runner = ShadowRunner(metrics=lambda route, result: seen.append((route, result)))
    runner.submit(job(JsonApp([])))
    await runner.drain(5)
    assert seen == [(ROUTE, "match")]


def test_submit_outside_an_event_loop_is_refused_not_raised() -> None:
    runner = ShadowRunner()
    assert runner.submit(job(JsonApp([]))) is False
    assert runner.counts["error"] == 1


async def test_call_asgi_keeps_streaming_responses_whole_and_bounded() -> None:
    disconnect_seen_early = False

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal disconnect_seen_early
        await receive()
        listener = asyncio.ensure_future(receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for n in range(5):
            await asyncio.sleep(0)
            disconnect_seen_early = disconnect_seen_early or listener.done()
            await send({"type": "http.response.body", "body": b"%d\n" % n, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        await listener

    whole = await call_asgi(streaming, scope_for(), b"")
    cut = await call_asgi(streaming, scope_for(), b"", limit=3)

    assert whole.body == b"0\n1\n2\n3\n4\n" and not whole.truncated
    assert cut.body == b"0\n1" and cut.truncated
    assert not disconnect_seen_early


async def test_call_asgi_refuses_an_app_that_never_answers() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    with pytest.raises(RuntimeError, match="without starting a response"):
        await call_asgi(silent, scope_for(), b"")


def test_response_recorder_reports_an_unfinished_response_as_truncated() -> None:
    recorder = ResponseRecorder(limit=10)
    assert recorder.captured() is None
    recorder.record({"type": "http.response.start", "status": 201, "headers": [(b"X-A", b"1")]})
    recorder.record({"type": "http.response.body", "body": b"abc", "more_body": True})
    partial = recorder.captured()
    recorder.record({"type": "http.response.body", "body": b"def"})
    assert partial is not None and partial.truncated
    assert recorder.captured() == CapturedResponse(201, [(b"x-a", b"1")], b"abcdef", False)


# A dispatcher in miniature: answer from the primary, then hand the candidate to the runner.
async def receive_nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def shadowing_dispatcher(runner: ShadowRunner, primary_app: Any, candidate_app: Any) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        recorder = ResponseRecorder()
        await primary_app(dict(scope, headers=list(scope["headers"])), receive, recorder.wrap(send))
        captured = recorder.captured()
        assert captured is not None
        runner.submit(ShadowJob(ROUTE, candidate_app, "new", scope, b"", captured, dry_run=False))

    return app


# --- with the real apps: a dry-run shadow of a write leaves only the primary's row ------------

DRY_RUN_KEY = "shadow-test-dry-run-key-0123456789"


def _count(database_url: str, sql: str) -> int:
    import sqlalchemy as sa

    from migrations.database import sync_engine_url

    engine = sa.create_engine(sync_engine_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


async def test_dry_run_shadowed_post_through_the_proxy_writes_exactly_one_row(
    database_url, tws_sim, metrics, tmp_path
) -> None:
    from legacy_flask import create_app as create_legacy
    from legacy_flask.app_state import EXTENSION_KEY
    from proxy.app import create_proxy
    from proxy.flags.stores import open_store
    from proxy.resync import ResyncTokenVerifier
    from proxy.settings import ProxySettings
    from resync_fastapi.core.config import Settings
    from resync_fastapi.main import create_app as create_new

    legacy = create_legacy(
        {
            "ENV": "test",
            "DATABASE_URL": database_url,
            "TWS_URL": tws_sim.twsd_url,
            "DRY_RUN_KEY": DRY_RUN_KEY,
            "LOG_LEVEL": "WARNING",
        }
    )
    new = create_new(
        Settings(
            env="test",
            database_url=database_url,
            tws_url=tws_sim.twsd_url,
            dry_run_key=DRY_RUN_KEY,
            log_level="WARNING",
        )
    )
    flag_file = tmp_path / "flags.toml"
    flag_file.write_text('[routes."POST /api/v1/chat"]\nmode = "shadow"\ndry_run = true\n')
    settings = ProxySettings(
        flag_store_url=f"sqlite:///{tmp_path / 'flags.db'}",
        flag_file=flag_file,
        poll_interval=0.05,
        legacy_threads=4,
        access_log=False,
        mismatch_db=None,
    )
    store = MismatchStore(limit=10, path=tmp_path / "mismatches.db")
    runner = ShadowRunner(
        metrics=metrics, mismatch_store=store, dry_run_key=DRY_RUN_KEY, timeout=30
    )
    proxy = create_proxy(
        legacy,
        new,
        open_store(settings.flag_store_url, poll_interval=settings.poll_interval),
        settings,
        token_verifier=ResyncTokenVerifier("resync-dev-secret-key-not-for-production-0001"),
        shadow_runner=runner,
        metrics=metrics,
    )
    before = _count(database_url, "SELECT count(*) FROM chat_messages")
    await proxy.startup()
    try:
        transport = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            tokens = {}
            for role in ("operator", "admin"):
                login = await client.post(
                    "/api/v1/auth/login",
                    json={"username": role, "password": f"resync-{role}-dev"},
                )
                assert login.status_code == 200, login.text
                tokens[role] = login.json()["access_token"]
            answer = await client.post(
                "/api/v1/chat",
                json={"agent_id": "tws-general", "message": "hello from the shadow test"},
                headers={"Authorization": f"Bearer {tokens['operator']}"},
            )
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-served-by"] == "legacy"
            assert await runner.drain(30)
            listed = await client.get(
                "/_strangler/mismatches",
                headers={"Authorization": f"Bearer {tokens['admin']}"},
            )
    finally:
        await proxy.shutdown()
        legacy.extensions[EXTENSION_KEY].close()

    assert _count(database_url, "SELECT count(*) FROM chat_messages") == before + 1
    assert (
        _count(database_url, "SELECT count(*) FROM audit_items WHERE memory_id LIKE 'chat-%'") == 1
    )
    # The candidate ran after the primary committed, so it answered with the next message id
    # from inside its own transaction: it did write, and nothing of it stayed. (The id is why
    # a dry-run shadow of a create is a mismatch by nature; parity_tests compare writes on
    # separate database copies instead.)
    assert metrics.shadow_counts()["POST /api/v1/chat"]["mismatch"] == 1
    [record] = store.list()
    assert record["candidate"]["status"] == 200
    assert record["candidate"]["body"]["value"]["id"] == answer.json()["id"] + 1
    assert "/id" in {d["path"] for d in record["differences"]}
    assert listed.status_code == 200, listed.text
    assert tokens["operator"] not in listed.text and tokens["admin"] not in listed.text
    assert tokens["operator"] not in json.dumps(record)


async def test_head_bodies_are_not_compared(make_runner, metrics) -> None:
    runner = make_runner()
    # The candidate writes a body for HEAD (as Starlette does); a server would drop it.
    runner.submit(job(JsonApp(["body"]), method="HEAD", expected=primary([], status=200)))
    await runner.drain(5)
    assert metrics.shadow_counts()["HEAD /api/v1/agents"]["match"] == 1
