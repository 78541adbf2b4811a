"""Server CPU per request of one route on each app, pinned, with wrk: a quick A/B probe.

``python -m loadtest.cpuprobe [--systems gunicorn,uvicorn] [--rounds 3] [--duration 15]``

The bench (``loadtest.bench``) measures the same thing with Locust and many more runs; this
probe answers "did this change cut the server's CPU per request?" in a minute or two:

1. seeds a SQLite template (``migrations``), copies it for each server start;
2. starts the TWS simulator at ``--latency-ms`` pinned to the client core;
3. mints access tokens for the seeded ``operator`` (HS256 with the development secret, as
   both apps issue them: no argon2 on the measured server);
4. for each round and each system, starts the server as the bench does
   (``loadtest.servers.server_command``) pinned to the server core, warms it with wrk, then
   reads the server tree's user+system CPU seconds (``/proc``, ``loadtest.usage``) around a
   ``--duration`` wrk run (``--connections`` keep-alive connections, pinned to the client core)
   and divides by the requests wrk completed; resident memory is read right after.

Rounds interleave the systems so that load from other work on the machine falls on both alike:
compare the ratio within one round. Prints one line per run and the per-round ratios.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtest.servers import Server, pinned, server_command, server_environment
from loadtest.usage import MIB, tree_cpu_seconds, tree_rss

__all__ = ["ProbeResult", "main", "parse_wrk", "probe"]

DEV_SECRET = "resync-dev-secret-key-not-for-production-0001"

# wrk prints its own summary; the script adds the exact percentiles and the status counts.
WRK_SCRIPT = """
local non2xx = 0
response = function(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("PROBE requests=%d errors=%d p50_us=%d p95_us=%d p99_us=%d\\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, latency:percentile(50),
    latency:percentile(95), latency:percentile(99)))
end
"""

_PROBE_LINE = re.compile(
    r"PROBE requests=(\d+) errors=(\d+) p50_us=(\d+) p95_us=(\d+) p99_us=(\d+)"
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One measured wrk run against one server."""

    system: str
    round: int
    requests: int
    errors: int
    seconds: float
    cpu_seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rss_mib: float

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU milliseconds per completed request."""
        return 1000 * self.cpu_seconds / self.requests if self.requests else float("nan")

    def line(self) -> str:
        """One human line."""
        return (
            f"round {self.round} {self.system:8} {self.requests / self.seconds:7.1f} req/s "
            f"cpu {self.cpu_ms_per_request:.3f} ms/req  p50 {self.p50_ms:.1f} "
            f"p95 {self.p95_ms:.1f} p99 {self.p99_ms:.1f} ms  rss {self.rss_mib:.1f} MiB"
            f"  errors {self.errors}"
        )


def parse_wrk(output: str) -> tuple[int, int, float, float, float]:
    """Requests, errors and p50/p95/p99 (ms) from the probe script's ``PROBE`` line."""
    found = _PROBE_LINE.search(output)
    if found is None:
        raise ValueError(f"no PROBE line in wrk's output:\n{output}")
    requests, errors, p50, p95, p99 = (int(value) for value in found.groups())
    return requests, errors, p50 / 1000, p95 / 1000, p99 / 1000


def _mint_tokens(count: int) -> list[str]:
    from proxy.traffic.resync_replay import mint_access_token

    return [mint_access_token(DEV_SECRET, "operator", "operator") for _ in range(count)]


def _wrk(
    url: str, token: str, *, seconds: int, connections: int, core: int | None, script: Path
) -> str:
    command = [
        "wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
        "-H", f"Authorization: Bearer {token}", "-s", str(script), url,
    ]  # fmt: skip
    done = subprocess.run(pinned(command, core), capture_output=True, text=True, check=True)
    return done.stdout


def probe(
    *,
    systems: Sequence[str],
    rounds: int,
    duration: int,
    warmup: int,
    connections: int,
    latency_ms: int,
    path: str,
    server_core: int | None,
    client_core: int | None,
    work: Path,
    extra_env: dict[str, str] | None = None,
) -> list[ProbeResult]:
    """Run the probe; return every measured run (rounds interleave the systems)."""
    import migrations
    from loadtest.fixtures import free_port, launch_simulator

    work.mkdir(parents=True, exist_ok=True)
    template = work / "template.db"
    migrations.upgrade(f"sqlite:///{template}")
    migrations.seed(f"sqlite:///{template}", environment="development")
    script = work / "probe.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    token = _mint_tokens(1)[0]
    simulator, tws = launch_simulator(latency_ms, client_core, work / "tws_sim.log")
    results: list[ProbeResult] = []
    try:
        for number in range(1, rounds + 1):
            for system in systems:
                database = work / f"{system}-{number}.db"
                shutil.copyfile(template, database)
                port = free_port()
                env = server_environment(
                    database_url=f"sqlite:///{database}", tws_url=f"{tws}/twsd", extra=extra_env
                )
                command = pinned(server_command(system, host="127.0.0.1", port=port), server_core)
                base = f"http://127.0.0.1:{port}"
                with Server(command, env, base, work / f"{system}-{number}.log") as server:
                    url = base + path
                    _wrk(url, token, seconds=warmup, connections=connections,
                         core=client_core, script=script)  # fmt: skip
                    cpu0, t0 = tree_cpu_seconds(server.pid), time.monotonic()
                    output = _wrk(url, token, seconds=duration, connections=connections,
                                  core=client_core, script=script)  # fmt: skip
                    cpu1, t1 = tree_cpu_seconds(server.pid), time.monotonic()
                    rss = tree_rss(server.pid) / MIB
                requests, errors, p50, p95, p99 = parse_wrk(output)
                result = ProbeResult(
                    system, number, requests, errors, t1 - t0, cpu1 - cpu0, p50, p95, p99, rss
                )
                results.append(result)
                print(result.line(), flush=True)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    return results


def _summary(results: Sequence[ProbeResult], systems: Sequence[str]) -> list[str]:
    if len(systems) < 2:
        return []
    base, other = systems[0], systems[1]
    lines = []
    for number in sorted({result.round for result in results}):
        by = {r.system: r for r in results if r.round == number}
        if base in by and other in by:
            cpu = by[other].cpu_ms_per_request / by[base].cpu_ms_per_request
            p95 = by[other].p95_ms / by[base].p95_ms
            lines.append(f"round {number}: {other}/{base} cpu {cpu:.3f}x  p95 {p95:.3f}x")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the probe, print the runs and the ratios."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.cpuprobe", description=__doc__)
    parser.add_argument("--systems", default="gunicorn,uvicorn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--path", default="/api/v1/status/jobs")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    systems = [name.strip() for name in args.systems.split(",") if name.strip()]
    with tempfile.TemporaryDirectory(prefix="cpuprobe-") as scratch:
        results = probe(
            systems=systems,
            rounds=args.rounds,
            duration=args.duration,
            warmup=args.warmup,
            connections=args.connections,
            latency_ms=args.latency_ms,
            path=args.path,
            server_core=args.server_core,
            client_core=args.client_core,
            work=args.work or Path(scratch),
        )
    for line in _summary(results, systems):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
