"""A local Redis Cluster: three masters on loopback ports, no replicas (tests, trials).

``redis-server --cluster-enabled yes`` three times, then ``redis-cli --cluster create``
assigns the 16384 slots; ready means ``CLUSTER INFO`` says ``cluster_state:ok`` on every
node. Data lives in a scratch directory (AOF on, like the single Redis of the stack).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from stream.errors import StackError

from ._config import LOOPBACK
from ._prepare import find_redis_server, find_tool
from ._probe import redis_ping
from ._proc import last_meaningful_line, pid_alive, port_taken, spawn, terminate

__all__ = ["RedisCluster"]

MASTERS = 3
BUS_OFFSET = 10_000  # Redis Cluster's node-to-node bus listens on port + 10000
_PORT_RANGE = (20_000, 65_535 - BUS_OFFSET)


def cluster_ports(count: int) -> list[int]:
    """``count`` free ports whose cluster-bus ports (port + 10000) are free too."""
    rng = random.SystemRandom()
    chosen: list[int] = []
    for _ in range(2_000):
        port = rng.randint(*_PORT_RANGE)
        taken = {p + d for p in chosen for d in (0, BUS_OFFSET)}
        if {port, port + BUS_OFFSET} & taken:
            continue
        if not port_taken(port) and not port_taken(port + BUS_OFFSET):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    msg = f"no {count} free loopback ports with free cluster-bus ports (+{BUS_OFFSET})"
    raise StackError(msg)


def _cluster_state(port: int) -> str:
    cli = find_tool("redis-cli", "redis-tools")
    done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [cli, "-h", LOOPBACK, "-p", str(port), "cluster", "info"],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("cluster_state:"):
            return line.split(":", 1)[1].strip()
    return "?"


@dataclass
class RedisCluster:
    """Three cluster-enabled redis-servers forming one cluster."""

    root: Path
    ports: list[int] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A seed node's URL (the cluster client discovers the others)."""
        return f"redis://{LOOPBACK}:{self.ports[0]}/0"

    @classmethod
    def start(
        cls, root: Path, *, timeout_s: float = 60.0, die_with_parent: bool = False
    ) -> RedisCluster:
        """Start three nodes, create the cluster, wait until every node says ``ok``.

        Raises:
            StackError: a node did not start, or the cluster did not form in time.
        """
        binary = find_redis_server(install=True)
        cli = find_tool("redis-cli", "redis-tools")
        shutil.rmtree(root, ignore_errors=True)
        cluster = cls(root=root, ports=cluster_ports(MASTERS))
        try:
            for port in cluster.ports:
                node = root / str(port)
                node.mkdir(parents=True)
                cmd = [
                    binary, "--port", str(port), "--bind", LOOPBACK, "--dir", str(node),
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", "5000", "--appendonly", "yes", "--save", "",
                    "--daemonize", "no", "--logfile", str(node / "redis.log"),
                ]  # fmt: skip
                cluster.pids.append(
                    spawn(
                        cmd, log_path=node / "redis.out", cwd=node, die_with_parent=die_with_parent
                    )
                )
            cluster._wait(lambda p: redis_ping(LOOPBACK, p) == "+PONG", timeout_s, "answer PING")
            nodes = [f"{LOOPBACK}:{p}" for p in cluster.ports]
            done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
                capture_output=True, text=True, timeout=timeout_s, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
                msg = f"redis-cli --cluster create failed (exit {done.returncode}): {why[0]}"
                raise StackError(msg)
            cluster._wait(lambda p: _cluster_state(p) == "ok", timeout_s, "agree cluster_state:ok")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _wait(self, ready: object, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(self.ports)
        while pending:
            for port, pid in zip(self.ports, self.pids, strict=True):
                if port in pending and not pid_alive(pid):
                    log = self.root / str(port) / "redis.log"
                    msg = f"redis cluster node {port} exited: {last_meaningful_line(log)}"
                    raise StackError(msg)
            still = []
            for port in pending:
                try:
                    ok = ready(port)  # type: ignore[operator]
                except OSError:
                    ok = False
                if not ok:
                    still.append(port)
            pending = still
            if pending and time.monotonic() > deadline:
                msg = f"redis cluster nodes {pending} did not {what} within {timeout_s:.0f}s"
                raise StackError(msg)
            if pending:
                time.sleep(0.1)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM every node (SIGKILL after ``timeout_s``)."""
        for pid in self.pids:
            if pid_alive(pid):
                terminate(pid, name="redis-server (cluster)", timeout_s=timeout_s)
        self.pids = []
