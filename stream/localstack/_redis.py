"""One redis-server with the append-only file on, so a restart keeps its data."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from stream.errors import StackError

from ._config import LOOPBACK
from ._probe import RedisTls, redis_ping
from ._proc import exit_code, last_meaningful_line, pid_alive, spawn, terminate

__all__ = ["RedisFiles", "start_redis", "wait_redis"]


class RedisFiles:
    """The server's files inside the stack directory."""

    def __init__(self, stack_dir: Path) -> None:
        self.root = stack_dir / "redis"
        self.data = self.root / "data"
        self.log = self.root / "redis.log"


def start_redis(
    redis_server: str,
    files: RedisFiles,
    port: int,
    *,
    die_with_parent: bool = False,
    extra: Sequence[str] = (),
) -> int:
    """Start redis-server detached on ``port``; return its pid (not yet ready).

    AOF on and RDB snapshots off: the flush writes sketches and offsets in one
    MULTI/EXEC, and the AOF replays that transaction whole after a restart
    (``appendfsync everysec``, Redis' default).
    """
    files.data.mkdir(parents=True, exist_ok=True)
    cmd = [
        redis_server,
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--dir",
        str(files.data),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        str(files.log),
        *extra,  # the secured stack: TLS only (``--port 0 --tls-port``) and ACL users
    ]
    return spawn(
        cmd, log_path=files.root / "redis.out", cwd=files.root, die_with_parent=die_with_parent
    )


def wait_redis(
    pid: int, port: int, files: RedisFiles, timeout_s: float, *, secure: RedisTls | None = None
) -> None:
    """Wait until redis answers PING with PONG (after loading its AOF).

    Raises:
        StackError: redis exited or did not answer in time; quotes its log.
    """
    deadline = time.monotonic() + timeout_s
    reply = ""
    while True:
        if not pid_alive(pid):
            why = last_meaningful_line(files.log, files.root / "redis.out")
            code = exit_code(pid)
            msg = f"redis-server exited during startup (exit {code}): {why} (log: {files.log})"
            raise StackError(msg)
        try:
            reply = redis_ping(LOOPBACK, port, timeout_s=1.0, tls=secure)
            if reply == "+PONG":
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            terminate(pid, name="redis-server", timeout_s=5.0)
            msg = (
                f"redis-server did not answer PING on {LOOPBACK}:{port} within "
                f"{timeout_s:.0f}s (last reply {reply or 'none'!r}; log: {files.log})"
            )
            raise StackError(msg)
        time.sleep(0.05)
