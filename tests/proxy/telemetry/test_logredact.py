"""No bearer token in the proxy process's log lines: structlog's and uvicorn's."""

from __future__ import annotations

import io
import json
import logging
import secrets

import pytest
import structlog

from proxy.shadow.redaction import redact_target
from proxy.telemetry.accesslog import AccessLog, configure_logging
from proxy.telemetry.logredact import RedactingFilter, install_log_redaction, redact_event

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param(f"/x/{JWT}", "/x/[REDACTED]", id="jwt-segment"),
        pytest.param(f"/ws?token={JWT}&x=1", "/ws?token=[REDACTED]&x=1", id="token-param"),
        pytest.param(
            "/l?password=p&access_token=a",
            "/l?password=[REDACTED]&access_token=[REDACTED]",
            id="secret-names",
        ),
        pytest.param("/x?token_type=bearer&page=2", "/x?token_type=bearer&page=2", id="not-secret"),
        pytest.param("/api/v1/agents/42", "/api/v1/agents/42", id="plain"),
        pytest.param("/r/" + "0f" * 16, "/r/" + "0f" * 16, id="hex-id-kept"),
        pytest.param(
            "/jobs/NIGHTLY_ETL_0000000000000000000001",
            "/jobs/NIGHTLY_ETL_0000000000000000000001",
            id="job-name-kept",
        ),
    ],
)
def test_redact_target(target: str, expected: str) -> None:
    assert redact_target(target) == expected


def test_an_opaque_random_token_is_redacted() -> None:
    assert redact_target(f"/reset/{secrets.token_urlsafe(32)}") == "/reset/[REDACTED]"


def test_the_access_line_redacts_the_path() -> None:
    stream = io.StringIO()
    AccessLog(stream=stream).request(
        request_id="r", method="GET", path=f"/x/{JWT}", route=None, side="legacy",
        status=404, duration_ms=1.0,
    )  # fmt: skip
    line = json.loads(stream.getvalue())
    assert line["path"] == "/x/[REDACTED]"
    assert JWT not in stream.getvalue()


def test_the_structlog_processor_redacts_paths_and_token_marks() -> None:
    event = {"path": f"/x/{JWT}", "error": f"bad Bearer {JWT}", "n": 3, "note": "plain"}
    assert redact_event(None, "info", event) == {
        "path": "/x/[REDACTED]",
        "error": "bad Bearer [REDACTED]",
        "n": 3,
        "note": "plain",
    }


def test_the_process_logging_configuration_redacts(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", force=True)
    structlog.get_logger("t").info("proxied", path=f"/x/{JWT}", detail=f"?token={JWT}")
    out = capsys.readouterr().out
    assert JWT not in out and out.count("[REDACTED]") == 2


def test_uvicorn_records_keep_their_argument_types() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/x?token={JWT}", "1.1", 200), None,
    )  # fmt: skip
    assert RedactingFilter().filter(record)
    assert record.args == ("127.0.0.1:5", "GET", "/x?token=[REDACTED]", "1.1", 200)
    assert record.getMessage() == '127.0.0.1:5 - "GET /x?token=[REDACTED] HTTP/1.1" 200'


def test_install_puts_one_filter_on_each_uvicorn_logger() -> None:
    install_log_redaction()
    install_log_redaction()
    for name in ("uvicorn.error", "uvicorn.access"):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in filters) == 1
