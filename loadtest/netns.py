"""Several proxy "hosts" on one machine: Linux network namespaces, veth pairs, a store forwarder.

Each :class:`Host` is a network namespace with two veth pairs to the root namespace:

* the **client link** (``10.X.<2n>.0/30``): load balancer and clients reach the host's proxy
  at ``client.ns_ip``;
* the **store link** (``10.X.<2n+1>.0/30``): the host reaches the shared flag store at
  ``store.root_ip``, where a :class:`Forwarder` in the root namespace relays to the
  PostgreSQL or Redis server listening on ``127.0.0.1`` only.

Cutting a host's store link (:meth:`Host.cut_store`, ``ip link set ... down``) takes the store
away from that host alone while clients can still reach it, which is what a host that lost its
route to the store looks like. :class:`HostNetwork` creates the namespaces with unique names
and always removes them (and stops whatever still runs inside) on exit, failure included.

Used by ``tests/loadtest/test_many_hosts.py`` and :mod:`loadtest.propagation`. Needs root
(``CAP_NET_ADMIN``, ``CAP_SYS_ADMIN``) and iproute2's ``ip``: :func:`netns_available` says
whether this machine can.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

from loadtest.servers import Server

__all__ = [
    "Forwarder",
    "Host",
    "HostNetwork",
    "Link",
    "netns_available",
    "proxy_host",
    "store_url_for",
]

PROXY_PORT = 8000


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def netns_available() -> tuple[bool, str]:
    """Whether ``ip netns`` and veth pairs can be created here; if not, why."""
    if shutil.which("ip") is None:
        return False, "iproute2's ip command is not installed"
    if os.geteuid() != 0:
        return False, "creating network namespaces needs root"
    name = f"rs-probe-{secrets.token_hex(3)}"
    try:
        added = _ip("netns", "add", name, check=False)
        if added.returncode != 0:
            return False, f"ip netns add failed: {added.stderr.strip()}"
        veth = f"rsp{secrets.token_hex(3)}"
        made = _ip("link", "add", veth, "type", "veth", "peer", "name", veth + "n", check=False)
        if made.returncode != 0:
            return False, f"ip link add type veth failed: {made.stderr.strip()}"
        _ip("link", "del", veth, check=False)
        return True, ""
    finally:
        _ip("netns", "del", name, check=False)


@dataclass(frozen=True, slots=True)
class Link:
    """One veth pair: ``root_if`` (root namespace, ``root_ip``) to ``ns_if`` (``ns_ip``)."""

    root_if: str
    ns_if: str
    root_ip: str
    ns_ip: str


@dataclass(slots=True)
class Host:
    """A network namespace with a client link and a store link."""

    index: int
    namespace: str
    client: Link
    store: Link

    def command(self, command: Sequence[str]) -> list[str]:
        """``command`` run inside this host's namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.namespace, *command]

    @property
    def base_url(self) -> str:
        """Where clients reach this host's proxy."""
        return f"http://{self.client.ns_ip}:{PROXY_PORT}"

    def cut_store(self) -> None:
        """Take the store link down: store traffic goes nowhere; clients still reach the host."""
        _ip("link", "set", self.store.root_if, "down")

    def restore_store(self) -> None:
        """Bring the store link back up."""
        _ip("link", "set", self.store.root_if, "up")

    def pids(self) -> list[int]:
        """Processes running in this host's namespace."""
        done = _ip("netns", "pids", self.namespace, check=False)
        return [int(line) for line in done.stdout.split() if line.strip().isdigit()]


def _free_octet() -> int:
    """A second octet X such that nothing on this machine routes 10.X.0.0/16 yet."""
    routes = _ip("-4", "route", "show", "table", "all", check=False).stdout
    addresses = _ip("-4", "addr", check=False).stdout
    used = routes + addresses
    choices = list(range(100, 250))
    random.shuffle(choices)
    for octet in choices:
        if f"10.{octet}." not in used:
            return octet
    raise RuntimeError("no free 10.X.0.0/16 network for the namespaces")


@dataclass
class HostNetwork:
    """``count`` namespaced hosts, created on enter and removed on exit (always)."""

    count: int
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    hosts: list[Host] = field(default_factory=list)

    def __enter__(self) -> Self:
        try:
            self.create()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    def create(self) -> list[Host]:
        """Create the namespaces and links; return the hosts."""
        octet = _free_octet()
        for n in range(self.count):
            namespace = f"rs-{self.tag}-h{n}"
            _ip("netns", "add", namespace)
            links = []
            for kind, third in (("c", 2 * n), ("s", 2 * n + 1)):
                root_if = f"rs{self.tag}{kind}{n}"
                link = Link(
                    root_if, root_if + "n", f"10.{octet}.{third}.1", f"10.{octet}.{third}.2"
                )
                _ip("link", "add", link.root_if, "type", "veth", "peer", "name", link.ns_if)
                _ip("link", "set", link.ns_if, "netns", namespace)
                _ip("addr", "add", f"{link.root_ip}/30", "dev", link.root_if)
                _ip("link", "set", link.root_if, "up")
                _ip("-n", namespace, "addr", "add", f"{link.ns_ip}/30", "dev", link.ns_if)
                _ip("-n", namespace, "link", "set", link.ns_if, "up")
                links.append(link)
            _ip("-n", namespace, "link", "set", "lo", "up")
            self.hosts.append(Host(n, namespace, links[0], links[1]))
        return self.hosts

    def remove(self) -> None:
        """Stop what still runs in the namespaces, delete them and any veth left behind."""
        for n in range(self.count):
            namespace = f"rs-{self.tag}-h{n}"
            host = Host(n, namespace, _NO_LINK, _NO_LINK)
            for pid in host.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _ip("netns", "del", namespace, check=False)
            for kind in ("c", "s"):  # deleting the namespace deletes its ends of the pairs
                _ip("link", "del", f"rs{self.tag}{kind}{n}", check=False)
        self.hosts.clear()


_NO_LINK = Link("", "", "", "")


class Forwarder:
    """TCP relays in the root namespace, each a process of its own (``python -m loadtest.netns
    forward``), so that relaying never competes with the caller's threads for the GIL.

    ``listen(host, target)`` opens ``host:<free port>`` and relays every connection to
    ``target`` (``("127.0.0.1", 5432)``); :meth:`close` stops every relay.
    """

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[str]] = []

    def listen(self, host: str, target: tuple[str, int]) -> int:
        """Relay ``host:<port>`` to ``target``; return the port listened on."""
        import sys

        process = subprocess.Popen(
            [sys.executable, "-m", "loadtest.netns", "forward", host, target[0], str(target[1])],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self._processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()  # "listening <port>", or nothing if it failed
        if not line.startswith("listening "):
            raise RuntimeError(f"forwarder on {host} did not start: {line!r}")
        return int(line.split()[1])

    def close(self) -> None:
        """Stop every relay (their connections drop with them)."""
        for process in self._processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
        self._processes.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, ConnectionError):
        pass
    finally:
        writer.transport.abort()


async def relay(host: str, target: tuple[str, int]) -> None:
    """Listen on ``host:<free port>``, print ``listening <port>``, relay to ``target`` forever."""

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.transport.abort()
            return
        for end in (writer, up_writer):  # a flag store's few round trips: no Nagle delay
            sock = end.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(accept, host, 0)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def store_url_for(url: str, host: str, port: int) -> str:
    """``url`` (PostgreSQL or Redis on 127.0.0.1) re-pointed at ``host:port`` (a forwarder)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def proxy_host(
    host: Host,
    *,
    executable: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    workers: int = 1,
) -> Server:
    """A ``resync-strangler serve`` on ``host`` (not started): ``workers`` uvicorn workers."""
    command = [
        *executable,
        "serve",
        "--host",
        host.client.ns_ip,
        "--port",
        str(PROXY_PORT),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    return Server(host.command(command), dict(env), host.base_url, log_path)


def wait_until(check: Any, *, within: float, interval: float = 0.05, what: str = "") -> Any:
    """Call ``check()`` until it returns something true; raise ``TimeoutError`` after ``within``."""
    deadline = time.monotonic() + within
    while True:
        try:
            value = check()
        except Exception:  # not yet (connection refused, a 503): keep trying until the deadline
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within:g} s: {what or check}")
        time.sleep(interval)


# -- the shared store and the proxies on the hosts ---------------------------------------------


@contextlib.contextmanager
def postgres_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new PostgreSQL database named ``<prefix>_<hex>`` (dropped after); yields its URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def redis_prefix(url: str, prefix: str) -> Iterator[str]:
    """``url`` with a key prefix ``<prefix>-<hex>`` of its own (its keys deleted after)."""
    import redis

    unique = f"{prefix}-{secrets.token_hex(4)}"
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}prefix={unique}"
    finally:
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{unique}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def store_target(url: str) -> tuple[str, int]:
    """The ``(host, port)`` a PostgreSQL or Redis URL connects to."""
    parts = urlsplit(url)
    default = 6379 if parts.scheme.startswith(("redis", "rediss")) else 5432
    return parts.hostname or "127.0.0.1", parts.port or default


def proxy_executable() -> list[str]:
    """``resync-strangler`` beside this interpreter, else ``python -m proxy``."""
    import sys

    beside = Path(sys.executable).with_name("resync-strangler")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "proxy"]


@dataclass
class Cluster:
    """A proxy on every host of ``network``, all sharing the flag store at ``store_url``.

    ``store_url`` is the store as the root namespace reaches it (``127.0.0.1``); each host gets
    it re-pointed at a forwarder on its store link. ``template`` is a seeded Resync database
    each host gets a copy of (the apps' own database stays per host: only the flag table is
    shared). Use as ``with Cluster(...) as cluster:``; every proxy is stopped on exit.
    """

    network: HostNetwork
    store_url: str
    template: Path
    work: Path
    workers: int = 1
    extra_env: Mapping[str, str] = field(default_factory=dict)
    servers: list[Server] = field(default_factory=list)
    _forwarder: Forwarder | None = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def host_store_url(self, host: Host, port: int) -> str:
        """The store URL ``host`` uses: through its forwarder on its store link."""
        if self.store_url.startswith("sqlite"):
            return self.store_url
        return store_url_for(self.store_url, host.store.root_ip, port)

    def start(self, *, timeout: float = 120.0) -> None:
        """Start the forwarders, then every host's proxy (in parallel), and wait for them."""
        from concurrent.futures import ThreadPoolExecutor

        from loadtest.fixtures import copy_database
        from loadtest.servers import server_environment

        ports: dict[int, int] = {}
        if not self.store_url.startswith("sqlite"):
            self._forwarder = Forwarder()
            target = store_target(self.store_url)
            for host in self.network.hosts:
                ports[host.index] = self._forwarder.listen(host.store.root_ip, target)
        for host in self.network.hosts:
            folder = self.work / f"host{host.index}"
            env = server_environment(
                database_url=copy_database(self.template, folder / "resync.db"),
                tws_url="http://127.0.0.1:9/twsd",  # no simulator in the namespace
                extra={
                    "STRANGLER_FLAG_STORE_URL": self.host_store_url(host, ports.get(host.index, 0)),
                    "STRANGLER_MISMATCH_DB": str(folder / "mismatches.db"),
                    "STRANGLER_ACCESS_LOG": "false",
                    "STRANGLER_LEGACY_THREADS": "4",
                    **self.extra_env,
                },
            )
            self.servers.append(
                proxy_host(
                    host,
                    executable=proxy_executable(),
                    env=env,
                    log_path=folder / "proxy.log",
                    workers=self.workers,
                )
            )
        with ThreadPoolExecutor(max_workers=len(self.servers)) as pool:
            for started in [pool.submit(s.start, timeout=timeout) for s in self.servers]:
                started.result()

    def stop(self) -> None:
        """Stop every proxy and the forwarders."""
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()
        if self._forwarder is not None:
            self._forwarder.close()
            self._forwarder = None


if __name__ == "__main__":  # python -m loadtest.netns forward LISTEN_HOST TARGET_HOST TARGET_PORT
    import sys

    if len(sys.argv) != 5 or sys.argv[1] != "forward":
        raise SystemExit("usage: python -m loadtest.netns forward LISTEN_HOST TARGET_HOST PORT")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(relay(sys.argv[2], (sys.argv[3], int(sys.argv[4]))))
