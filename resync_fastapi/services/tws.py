"""Call the TWS (HWA) REST API over one pooled ``aiohttp.ClientSession``.

The client was chosen by measurement: against the simulator, one call through httpx (even over
an aiohttp transport) cost the app 0.74-0.82 ms of CPU, the same call on a bare aiohttp session
0.31-0.33 ms; a TWS-bound endpoint makes one to nine such calls. httpx stays the tool of the
tests and the command-line tools.

Failures are translated at this boundary into the problems docs/api.md names: a timeout
(including waiting for a pooled connection) is 504; a refused or reset connection, a 5xx, any
unexpected 4xx, or a body that is not the JSON object the app expects is 502; a 404 on a job
path is the job's 404.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict
from yarl import URL

from resync_fastapi.core.exceptions import NotFound, UpstreamError, UpstreamTimeout

__all__ = ["JOB_STATUSES", "TwsClient", "TwsJob", "create_tws_session"]

JOB_STATUSES = ("SUCC", "ABEND", "EXEC", "HOLD", "READY")
JOB_KEYS = ("id", "name", "workstation", "job_stream", "status", "start_time", "end_time")
WORKSTATION_KEYS = ("name", "type", "status", "last_seen")
PLAN_KEYS = ("plan_id", "created_at", "jobs_count", "status", "estimated_end")
MAX_PAGE = 1000
# Built request URLs kept per (path, query); emptied when full (client-chosen filters vary).
MAX_CACHED_URLS = 1024


@with_config(ConfigDict(strict=True))
class TwsJob(TypedDict):
    """A job as the API shows it: TWS's job object cut to these keys, in this order."""

    id: str | None
    name: str | None
    workstation: str | None
    job_stream: str | None
    status: str | None
    start_time: str | None
    end_time: str | None


@with_config(ConfigDict(strict=True))
class _JobList(TypedDict):
    items: list[TwsJob]
    total: int


# Parsed by pydantic-core from the answer's bytes in one step (no dict per item built twice):
# every key present (others dropped), each value a string or null, ``total`` an integer
# (not a bool, not a float); anything else is TWS's error, as ``pick`` would have it.
_JOB_LIST: TypeAdapter[_JobList] = TypeAdapter(_JobList)


def create_tws_session(
    base_url: str, user: str, password: str, timeout: float, max_connections: int
) -> aiohttp.ClientSession:
    """Build the app's one pooled session to TWS (in the lifespan, inside the running loop).

    ``timeout`` bounds each call as a whole (waiting for a pooled connection, connecting and
    reading the answer): per phase, a call that waited for a free connection could then wait
    as long again for the answer, twice ``RESYNC_TWS_TIMEOUT`` in a burst.
    """
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return aiohttp.ClientSession(
        base_url=base_url.rstrip("/") + "/",
        connector=aiohttp.TCPConnector(limit=max_connections, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"Accept": "application/json", "Authorization": f"Basic {credentials}"},
        skip_auto_headers=("User-Agent",),
        raise_for_status=False,
    )


def pick(source: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """Return ``source``'s ``keys`` in that order; an answer without them is a TWS error."""
    if not isinstance(source, dict) or not all(key in source for key in keys):
        raise UpstreamError()
    return {key: source[key] for key in keys}


def _items(body: dict[str, Any], key: str = "items") -> list[Any]:
    items = body.get(key)
    if not isinstance(items, list):
        raise UpstreamError()
    return items


def _total(body: dict[str, Any]) -> int:
    total = body.get("total")
    if not isinstance(total, int) or isinstance(total, bool):
        raise UpstreamError()
    return total


class TwsClient:
    """The few TWS calls the API makes, each returning decoded JSON."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._urls: dict[tuple[str, tuple[tuple[str, Any], ...]], URL] = {}

    def _url(self, path: str, params: dict[str, Any] | None) -> URL:
        """``path`` (relative to the session's base) with ``params`` as its query, built once.

        The same URL aiohttp builds from ``params=`` (yarl's ``extend_query``), which cost about
        a twentieth of a ``/status/jobs`` request's CPU when built anew for every call.
        """
        key = (path, tuple(params.items()) if params else ())
        url = self._urls.get(key)
        if url is None:
            url = URL(path.lstrip("/"))
            if params:
                url = url.extend_query(params)
            if len(self._urls) >= MAX_CACHED_URLS:
                self._urls.clear()
            self._urls[key] = url
        return url

    async def _fetch(
        self, path: str, params: dict[str, Any] | None = None, *, job_id: str | None = None
    ) -> bytes:
        """The body of a 200 answer to ``GET path``; any other answer is translated here."""
        try:
            async with self._session.get(self._url(path, params), allow_redirects=False) as answer:
                status = answer.status
                content = await answer.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutError subclasses
            raise UpstreamTimeout() from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamError("TWS is unreachable.") from exc
        if status == 404 and job_id is not None:
            raise NotFound(f"Job {job_id} not found.")
        if status != 200:
            raise UpstreamError()
        return content

    async def _get(
        self, path: str, params: dict[str, Any] | None = None, *, job_id: str | None = None
    ) -> dict[str, Any]:
        content = await self._fetch(path, params, job_id=job_id)
        try:
            body = json.loads(content)
        except ValueError as exc:
            raise UpstreamError() from exc
        if not isinstance(body, dict):
            raise UpstreamError()
        return body

    async def current_plan(self) -> dict[str, Any]:
        """``GET /plan/current`` as the API's plan object."""
        return pick(await self._get("plan/current"), PLAN_KEYS)

    async def critical_jobs(self) -> list[dict[str, Any]]:
        """The jobs on the current plan's critical path."""
        body = await self._get("plan/current/criticalpath")
        return [pick(job, JOB_KEYS) for job in _items(body, "jobs")]

    async def workstations(self) -> tuple[list[dict[str, Any]], int]:
        """Every workstation, ordered by name, and how many TWS listed."""
        body = await self._get("model/workstation")
        items = [pick(item, WORKSTATION_KEYS) for item in _items(body)]
        return items, len(items)

    async def jobs(
        self,
        *,
        status: str | None = None,
        workstation: str | None = None,
        name: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of job definitions and the total matching the filters."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status
        if workstation is not None:
            params["workstation"] = workstation
        if name is not None:
            params["name"] = name
        body = await self._get("model/jobdefinition", params)
        return [pick(item, JOB_KEYS) for item in _items(body)], _total(body)

    async def job_page(
        self, *, status: str | None, workstation: str | None, limit: int, offset: int
    ) -> tuple[list[TwsJob], int]:
        """What :meth:`jobs` answers, parsed straight from TWS's bytes (``/status/jobs``)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status
        if workstation is not None:
            params["workstation"] = workstation
        content = await self._fetch("model/jobdefinition", params)
        try:
            body = _JOB_LIST.validate_json(content)
        except ValidationError as exc:
            raise UpstreamError() from exc
        return body["items"], body["total"]

    async def job_count(self, status: str | None = None) -> int:
        """How many jobs TWS has (with ``status``), asking for a single item."""
        return (await self.jobs(status=status, limit=1))[1]

    async def all_job_names(self, status: str) -> tuple[list[str], int]:
        """Every job name with ``status``, paging through TWS, and their total."""
        names: list[str] = []
        offset = 0
        while True:
            items, total = await self.jobs(status=status, limit=MAX_PAGE, offset=offset)
            names.extend(str(item["name"]) for item in items)
            offset += len(items)
            if not items or offset >= total:
                return names, total

    async def job(self, job_id: str) -> dict[str, Any]:
        """One job definition (404 when TWS does not know it)."""
        return pick(await self._get(f"model/jobdefinition/{job_id}", job_id=job_id), JOB_KEYS)

    async def job_history(self, job_id: str) -> list[dict[str, Any]]:
        """The job's runs, newest first."""
        body = await self._get(f"model/jobdefinition/{job_id}/history", job_id=job_id)
        return _items(body)

    async def job_dependencies(self, job_id: str) -> list[dict[str, Any]]:
        """The job's predecessors as TWS lists them."""
        body = await self._get(f"model/jobdefinition/{job_id}/dependencies", job_id=job_id)
        return _items(body)

    async def job_log(self, job_id: str) -> str:
        """The job's log text."""
        body = await self._get(f"model/jobdefinition/{job_id}/log", job_id=job_id)
        log = body.get("log")
        if not isinstance(log, str):
            raise UpstreamError()
        return log
