"""Two small apps that serve overlapping routes, for testing the proxy without Resync.

Every response says which app made it (``X-App``), so tests can check routing without trusting
the proxy's own ``X-Served-By`` header.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, UploadFile, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse
from flask import Flask, jsonify, request, stream_with_context

from proxy.auth import InvalidToken, Principal

TOKENS = {
    "admin-token": Principal("alice", "admin"),
    "operator-token": Principal("olivia", "operator"),
    "viewer-token": Principal("victor", "viewer"),
}
ADMIN = {"Authorization": "Bearer admin-token"}


def verify_token(token: str) -> Principal:
    """Accept the three fixed test tokens (a stand-in for the Resync JWT verifier)."""
    try:
        return TOKENS[token]
    except KeyError:
        raise InvalidToken("unknown token") from None


def _echo(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    return {
        "method": method,
        "path": path,
        "query": query,
        "request_id": headers.get("x-request-id"),
        "dry_run": headers.get("x-resync-dry-run"),
        "body": body.decode("utf-8", "replace"),
    }


def create_legacy_app(*, barrier_parties: int = 4, barrier_timeout: float = 10.0) -> Flask:
    """The 'legacy' side: Flask.

    ``app.config["STREAMS"]`` counts streamed responses started and closed (a generator's
    ``finally`` runs when the server closes the iterable). ``GET /barrier`` waits until
    ``barrier_parties`` requests are inside it at once: it answers 200 only if that many
    legacy worker threads are free together, and 503 when the barrier times out.

    ``GET /drip`` is a slow download paced by the test: it yields ``chunk-0`` at once and each
    further chunk only once ``app.config["DRIP_GATE"]`` (a semaphore) is released;
    ``app.config["DRIP"]`` counts the chunks produced and whether the iterable was closed.
    ``GET /hold`` keeps its thread until ``app.config["HOLD"]`` (an event) is set, counting the
    requests inside it in ``app.config["HELD"]``.
    """
    app = Flask("sample_legacy")
    streams = {"started": 0, "closed": 0}
    lock = threading.Lock()
    barrier = threading.Barrier(barrier_parties, timeout=barrier_timeout)
    app.config["STREAMS"] = streams
    app.config["BARRIER"] = barrier
    drip = {"produced": 0, "closed": 0}
    drip_gate = threading.Semaphore(0)
    app.config["DRIP"] = drip
    app.config["DRIP_GATE"] = drip_gate
    hold = threading.Event()
    held = {"inside": 0, "entered": 0}
    app.config["HOLD"] = hold
    app.config["HELD"] = held

    @app.after_request
    def tag(response: Any) -> Any:
        response.headers["X-App"] = "legacy"
        return response

    @app.get("/api/items")
    def items() -> Any:
        return jsonify(items=[1, 2, 3], side="legacy")

    @app.get("/api/items/<int:item_id>")
    def item(item_id: int) -> Any:
        return jsonify(id=item_id, side="legacy")

    @app.post("/api/items")
    def create_item() -> Any:
        return jsonify(created=request.get_json(), side="legacy"), 201

    @app.get("/api/items/<int:item_id>/notes/<path:note>")
    def note(item_id: int, note: str) -> Any:
        return jsonify(id=item_id, note=note, side="legacy")

    @app.get("/legacy-only")
    def legacy_only() -> Any:
        return jsonify(side="legacy")

    @app.route("/echo", methods=["GET", "POST", "PUT"])
    def echo() -> Any:
        headers = {k.lower(): v for k, v in request.headers.items()}
        return jsonify(
            _echo(
                request.method,
                request.path,
                request.query_string.decode(),
                headers,
                request.get_data(),
            )
        )

    @app.post("/upload")
    def upload() -> Any:
        file = request.files["file"]
        data = file.read()
        return jsonify(
            filename=file.filename,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            field=request.form.get("note"),
        )

    @app.get("/cookies")
    def cookies() -> Any:
        response = jsonify(side="legacy")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2", httponly=True)
        response.headers.add("X-Multi", "one")
        response.headers.add("X-Multi", "two")
        return response

    @app.get("/stream")
    def stream() -> Any:
        count = int(request.args.get("chunks", "5"))
        delay = float(request.args.get("delay", "0"))

        def generate() -> Iterator[bytes]:
            with lock:
                streams["started"] += 1
            try:
                for index in range(count):
                    if delay and index:
                        time.sleep(delay)
                    yield f"chunk-{index}\n".encode()
            finally:
                with lock:
                    streams["closed"] += 1

        return app.response_class(stream_with_context(generate()), mimetype="text/plain")

    @app.get("/drip")
    def drip_download() -> Any:
        count = int(request.args.get("chunks", "100"))

        def generate() -> Iterator[bytes]:
            try:
                for index in range(count):
                    # A safety net only: a test releases the gate, or the stream ends.
                    if index and not drip_gate.acquire(timeout=60):
                        return
                    with lock:
                        drip["produced"] += 1
                    yield f"chunk-{index}\n".encode()
            finally:
                with lock:
                    drip["closed"] += 1

        return app.response_class(generate(), mimetype="text/plain")

    @app.get("/hold")
    def hold_thread() -> Any:
        with lock:
            held["inside"] += 1
            held["entered"] += 1
        try:
            hold.wait(timeout=60)  # a safety net: the test sets the event
        finally:
            with lock:
                held["inside"] -= 1
        return jsonify(held=True)

    @app.get("/barrier")
    def wait_at_barrier() -> Any:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return jsonify(error="not enough free threads"), 503
        return jsonify(met=True)

    @app.get("/sleep")
    def sleep() -> Any:
        time.sleep(float(request.args.get("seconds", "0.5")))
        return jsonify(slept=True)

    @app.get("/status/<int:code>")
    def status(code: int) -> Any:
        return jsonify(code=code), code

    return app


def create_new_app() -> FastAPI:
    """The 'new' side: FastAPI with a lifespan that keeps state."""
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        app.state.events = events
        yield {"resource": "opened-by-lifespan"}
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)
    app.state.events = events
    # GET /hold answers once the test sets this event; "inside" counts requests waiting in it.
    hold = threading.Event()
    held = {"inside": 0}
    app.state.hold = hold
    app.state.held = held

    @app.middleware("http")
    async def tag(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["X-App"] = "new"
        return response

    @app.get("/api/items")
    async def items() -> dict[str, Any]:
        return {"items": [1, 2, 3], "side": "new"}

    @app.get("/api/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "side": "new"}

    @app.post("/api/items", status_code=201)
    async def create_item(request: Request) -> dict[str, Any]:
        return {"created": await request.json(), "side": "new"}

    @app.get("/new-only")
    async def new_only() -> dict[str, Any]:
        return {"side": "new"}

    @app.api_route("/echo", methods=["GET", "POST", "PUT"])
    async def echo(request: Request) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = await request.body()
        return _echo(request.method, request.url.path, request.url.query, headers, body)

    @app.post("/upload")
    async def upload(file: UploadFile, request: Request) -> dict[str, Any]:
        data = await file.read()
        form = await request.form()
        return {
            "filename": file.filename,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "field": form.get("note"),
        }

    @app.get("/cookies")
    async def cookies() -> Response:
        response = JSONResponse({"side": "new"})
        response.set_cookie("a", "1")
        response.set_cookie("b", "2", httponly=True)
        response.headers.append("X-Multi", "one")
        response.headers.append("X-Multi", "two")
        return response

    @app.get("/stream")
    async def stream(chunks: int = 5, delay: float = 0) -> StreamingResponse:
        async def generate() -> AsyncIterator[bytes]:
            for index in range(chunks):
                if delay:
                    await asyncio.sleep(delay)
                yield f"chunk-{index}\n".encode()

        return StreamingResponse(generate(), media_type="text/plain")

    @app.get("/hold")
    async def hold_request() -> dict[str, Any]:
        held["inside"] += 1
        try:
            for _ in range(6000):  # a safety net of 60 s: the test sets the event
                if hold.is_set():
                    break
                await asyncio.sleep(0.01)
        finally:
            held["inside"] -= 1
        return {"held": True}

    @app.get("/lifespan")
    async def lifespan_state(request: Request) -> dict[str, Any]:
        return {"events": list(events), "resource": getattr(request.state, "resource", None)}

    @app.websocket("/ws/echo")
    async def ws_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"new:{text}")

    return app
