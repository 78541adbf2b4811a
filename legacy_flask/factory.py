"""Build the legacy Resync app: settings in, a configured Flask app out.

``gunicorn "legacy_flask:create_app()"`` runs it; tests build their own with ``test_config``.
Per app: one pooled engine, one pooled ``requests`` session to TWS, one token signer. Per
request: a request id, a body limit checked before authentication, one database transaction.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request

from legacy_flask.app_state import EXTENSION_KEY, AppState, state
from legacy_flask.config import Settings, load_settings
from legacy_flask.database import RequestTransaction, create_database_engine
from legacy_flask.encoding import ResyncJSONProvider
from legacy_flask.passwords import Passwords
from legacy_flask.problems import (
    JSON_BODY_LIMIT,
    UPLOAD_ENDPOINT,
    body_too_large,
    register_error_handlers,
)
from legacy_flask.request_log import REQUEST_ID_KEY, RequestLogMiddleware, configure_logging
from legacy_flask.routes import BLUEPRINTS
from legacy_flask.tokens import TokenService
from legacy_flask.tws import TwsClient

__all__ = ["create_app"]

DRY_RUN_HEADER = "X-Resync-Dry-Run"
# Room for the multipart boundaries and part headers around an upload of RAG_MAX_BYTES.
MULTIPART_OVERHEAD = 64 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_dry_run(settings: Settings) -> bool:
    key = settings.dry_run_key
    offered = request.headers.get(DRY_RUN_HEADER)
    if not key or offered is None:
        return False
    return hmac.compare_digest(offered.encode(), key.encode())


def _begin_request() -> None:
    """Open the request's transaction and enforce the body limit before authentication."""
    app_state = state()
    g.request_id = request.environ.get(REQUEST_ID_KEY, "")
    g.transaction = RequestTransaction(app_state.engine, dry_run=_is_dry_run(app_state.settings))
    if request.routing_exception is not None:
        return  # 404/405 come first; Flask raises them next.
    if request.endpoint == UPLOAD_ENDPOINT:
        limit = app_state.settings.rag_max_bytes + MULTIPART_OVERHEAD
    else:
        limit = JSON_BODY_LIMIT
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise body_too_large(app_state.settings.rag_max_bytes)
    if request.content_length is None and request.method in _BODY_METHODS:
        _read_unsized_body(limit)


def _read_unsized_body(limit: int) -> None:
    """Read a body sent without Content-Length (chunked) now, so too large is a 413 before 401.

    Werkzeug stops such a stream at the limit without complaint; asking for one byte more is
    what raises its 413. (A chunked body of exactly the limit is refused too: the stream cannot
    tell "ends here" from "has more".) The body is cached for the view, multipart included.
    """
    if len(request.get_data(cache=True)) >= limit:
        request.stream.read(1)


def _finish_request(response: Response) -> Response:
    """Commit after a successful answer; roll back after an error or in a dry run."""
    transaction: RequestTransaction | None = g.get("transaction")
    if transaction is not None:
        transaction.finish(success=response.status_code < 400)
    return response


def _teardown_request(_exc: BaseException | None) -> None:
    transaction: RequestTransaction | None = g.get("transaction")
    if transaction is not None:
        transaction.finish(success=False)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the legacy Resync API app from ``RESYNC_*`` settings and ``test_config``."""
    settings = load_settings(test_config)
    configure_logging(settings.log_level)
    app = Flask("legacy_flask", static_folder=None)
    # Before any rule is added: no automatic OPTIONS (an undeclared method is a 405), no
    # merging of repeated slashes (a redirect the contract does not have).
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.config["MAX_CONTENT_LENGTH"] = JSON_BODY_LIMIT
    # The OAuth2 login form is a body like any other: the same 1 MiB (Flask's default is 500 kB).
    app.config["MAX_FORM_MEMORY_SIZE"] = JSON_BODY_LIMIT
    app.url_map.merge_slashes = False
    app.json = ResyncJSONProvider(app)
    app.extensions[EXTENSION_KEY] = AppState(
        settings=settings,
        engine=create_database_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        ),
        tws=TwsClient(
            settings.tws_url, settings.tws_user, settings.tws_password, settings.tws_timeout
        ),
        tokens=TokenService(settings.secret_key),
        passwords=Passwords(),
    )
    register_error_handlers(app)
    app.before_request(_begin_request)
    app.after_request(_finish_request)
    app.teardown_request(_teardown_request)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.wsgi_app = RequestLogMiddleware(app.wsgi_app, app_name="legacy")  # type: ignore[method-assign]
    return app
