"""Call the TWS REST API through one pooled ``requests`` session per app.

Transport failures are translated here, at the boundary: a timeout becomes
:class:`UpstreamTimeout` (504); a refused or reset connection, a 5xx, any other 4xx or a body
that is not JSON becomes :class:`UpstreamError` (502); a 404 becomes :class:`TwsNotFound`, which
the view turns into its own 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from legacy_flask.errors import TwsNotFound, UpstreamError, UpstreamTimeout

__all__ = ["JOB_FIELDS", "JOB_STATUSES", "TwsClient", "items_of", "project"]

JOB_STATUSES = ("SUCC", "ABEND", "EXEC", "HOLD", "READY")
TWS_ERROR = "TWS returned an error."
TWS_UNREACHABLE = "TWS is unreachable."
TWS_TIMEOUT = "TWS did not answer in time."
_POOL_SIZE = 32
JOB_FIELDS = ("id", "name", "workstation", "job_stream", "status", "start_time", "end_time")


def project(item: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """Copy ``keys`` from a TWS object in order; a malformed answer is TWS's error (502)."""
    if not isinstance(item, dict) or any(key not in item for key in keys):
        raise UpstreamError(TWS_ERROR)
    return {key: item[key] for key in keys}


def items_of(body: dict[str, Any]) -> list[Any]:
    """Return a TWS list answer's ``items`` (502 when it has none)."""
    items = body.get("items")
    if not isinstance(items, list):
        raise UpstreamError(TWS_ERROR)
    return items


class TwsClient:
    """A thin, typed client for the TWS paths the API needs."""

    def __init__(self, base_url: str, user: str, password: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.auth = (user, password)
        self._session.headers["Accept"] = "application/json"
        # No retries: a failure is reported at once and mapped to 502/504.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=_POOL_SIZE, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def close(self) -> None:
        self._session.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET a TWS path and return its JSON object, translating every failure."""
        try:
            response = self._session.get(
                f"{self.base_url}{path}", params=params, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise UpstreamTimeout(TWS_TIMEOUT) from exc
        except requests.RequestException as exc:
            raise UpstreamError(TWS_UNREACHABLE) from exc
        if response.status_code == 404:
            raise TwsNotFound(path)
        if response.status_code >= 400:
            raise UpstreamError(TWS_ERROR)
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamError(TWS_ERROR) from exc
        if not isinstance(body, dict):
            raise UpstreamError(TWS_ERROR)
        return body

    # The paths ---------------------------------------------------------------------------

    def plan(self) -> dict[str, Any]:
        return self.get("/plan/current")

    def critical_path(self) -> dict[str, Any]:
        return self.get("/plan/current/criticalpath")

    def workstations(self) -> dict[str, Any]:
        return self.get("/model/workstation")

    def jobs(
        self,
        *,
        status: str | None = None,
        workstation: str | None = None,
        name: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        for key, value in (("status", status), ("workstation", workstation), ("name", name)):
            if value is not None:
                params[key] = value
        return self.get("/model/jobdefinition", params)

    def job(self, job_id: str) -> dict[str, Any]:
        return self.get(f"/model/jobdefinition/{job_id}")

    def job_history(self, job_id: str) -> dict[str, Any]:
        return self.get(f"/model/jobdefinition/{job_id}/history")

    def job_log(self, job_id: str) -> dict[str, Any]:
        return self.get(f"/model/jobdefinition/{job_id}/log")

    def job_dependencies(self, job_id: str) -> dict[str, Any]:
        return self.get(f"/model/jobdefinition/{job_id}/dependencies")
