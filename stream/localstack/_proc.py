"""Processes and ports: spawn a server detached, find free ports, stop without leftovers."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from stream.errors import StackError

from ._config import LOOPBACK

__all__ = [
    "check_port_free",
    "choose_ports",
    "cmdline",
    "exit_code",
    "file_lock",
    "free_ports",
    "last_meaningful_line",
    "now_ms",
    "pid_alive",
    "port_taken",
    "spawn",
    "terminate",
]

# Popen handles of servers this process started. Keeping them lets us reap our own
# children (no zombies that look alive to kill(pid, 0)) and stops Popen.__del__ from
# warning that a deliberately long-lived child is "still running".
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

_PR_SET_PDEATHSIG = 1


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the epoch (UTC)."""
    return time.time_ns() // 1_000_000


def port_taken(port: int) -> bool:
    """True when something listens on (or holds) ``port`` on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too, so a port held only by TIME_WAIT sockets
        # counts as free, exactly as it will for Kafka and Redis.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def check_port_free(port: int, what: str, option: str) -> None:
    """Raise a one-line StackError when a port the user asked for is taken.

    Args:
        port: the requested port.
        what: the server that wanted it, e.g. ``"kafka"``.
        option: the flag or variable that chose it, named in the hint.

    Raises:
        StackError: the port is outside 1..65535 or something listens on it.
    """
    if not 0 < port < 65536:
        msg = f"{what} port {port} is not a valid TCP port ({option})"
        raise StackError(msg)
    if port_taken(port):
        msg = (
            f"{what} port {port} on {LOOPBACK} is already in use; choose another "
            f"{option} or leave it unset to pick a free one"
        )
        raise StackError(msg)


def free_ports(count: int, exclude: Sequence[int] = ()) -> list[int]:
    """Ask the kernel for ``count`` distinct free loopback ports, none in ``exclude``."""
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        # Hold every socket open until all are chosen, so the kernel cannot hand
        # out the same ephemeral port twice.
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
            if port not in exclude:
                ports.append(port)
    finally:
        for sock in socks:
            sock.close()
    return ports


def choose_ports(
    requested: tuple[int | None, int | None, int | None],
    previous: tuple[int, int, int] | None = None,
) -> tuple[int, int, int]:
    """(kafka, controller, redis) ports for a fresh start.

    Requested ports as given; else the previous run's ports when still free, so
    the ``DRIFTSTREAM_*`` exports a user made stay valid after a crash; else free ones.
    """
    chosen = list(requested)
    for i, old in enumerate(previous or ()):
        if chosen[i] is None and old and old not in chosen and not port_taken(old):
            chosen[i] = old
    fresh = iter(free_ports(3, exclude=[p for p in chosen if p is not None]))
    kafka, controller, redis = (p if p is not None else next(fresh) for p in chosen)
    return kafka, controller, redis


def _pdeathsig_hook() -> Callable[[], None]:
    # The hook runs in the child between fork and exec: it asks the kernel to
    # SIGTERM the server when the process that started it dies (e.g. a test session
    # killed with -9), so no broker outlives its owner. libc is loaded before the fork.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return hook


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    die_with_parent: bool = False,
) -> int:
    """Start a server in its own session, stdout+stderr appended to ``log_path``.

    Args:
        argv: the command.
        log_path: file that receives the server's stdout and stderr.
        cwd: working directory.
        env: environment (default: this process's).
        die_with_parent: on Linux, SIGTERM the server when this process dies
            (only when called from the main thread, see below).

    Returns:
        The server's pid.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    preexec: Callable[[], None] | None = None
    # Linux ties PDEATHSIG to the *thread* that forks: from a helper thread the server
    # would die with that thread, so only the main thread asks for it.
    if (
        die_with_parent
        and sys.platform.startswith("linux")
        and threading.current_thread() is threading.main_thread()
    ):
        preexec = _pdeathsig_hook()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own session: Ctrl-C in the terminal that ran `stack up` does not reach
            # the servers, and `terminate` can signal the whole process group.
            start_new_session=True,
            preexec_fn=preexec,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _any_thread_running(pid: int) -> bool:
    # A multi-threaded server (the JVM) can show its leader thread as a zombie while
    # other threads still run shutdown hooks, so look at every thread. Without
    # /proc (not Linux) trust kill(pid, 0); on Linux a missing entry means gone.
    task_dir = Path(f"/proc/{pid}/task")
    try:
        stats = [p / "stat" for p in task_dir.iterdir()]
    except FileNotFoundError:
        return sys.platform != "linux"
    except OSError:
        return True
    for stat in stats:
        try:
            # Field 3 follows the parenthesised command name (which may hold spaces).
            state = stat.read_text().rsplit(")", 1)[-1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            return True
    return False


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _any_thread_running(pid)


def cmdline(pid: int) -> str:
    """The command line of ``pid`` as one string ('' when unknown)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def exit_code(pid: int) -> int | None:
    """Exit status of a child this process started, once it has exited."""
    child = _CHILDREN.get(pid)
    return None if child is None else child.poll()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The server leads its own process group (start_new_session), so the group
    # signal also reaches helpers it forked (Redis' AOF rewrite child).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    child = _CHILDREN.get(pid)
    if child is not None:
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, *, name: str, timeout_s: float = 30.0, graceful: bool = True) -> None:
    """SIGTERM the server's process group, wait, then SIGKILL; return once it is gone.

    Args:
        pid: the server (a process group leader when ``spawn`` started it).
        name: for the error message.
        timeout_s: grace period between SIGTERM and SIGKILL.
        graceful: False sends SIGKILL at once (simulates a crash).

    Raises:
        StackError: the process survived SIGKILL (e.g. it belongs to another user).
    """
    if pid_alive(pid):
        if graceful:
            _signal_group(pid, signal.SIGTERM)
        if not graceful or not _wait_gone(pid, timeout_s):
            _signal_group(pid, signal.SIGKILL)
            if not _wait_gone(pid, 10.0):
                msg = f"{name} (pid {pid}) did not exit after SIGKILL"
                raise StackError(msg)
    _CHILDREN.pop(pid, None)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``: one ``up``/``down`` per directory at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Lines that say something failed, but never what: skip them when quoting a log.
_BOILERPLATE = (
    "Error: Could not create the Java Virtual Machine",
    "Error: A fatal exception has occurred",
    "Error occurred during initialization of VM",  # the reason is on the next line
    "Exiting Kafka due to fatal exception",
    "Exiting Kafka.",
)
_SIGNALS = ("ERROR", "FATAL", "Exception", "Error", "Unrecognized", "Caused by")


def last_meaningful_line(*paths: Path, max_chars: int = 300) -> str:
    """The last line across ``paths`` that names a problem, else the last non-empty line.

    Stack frames and generic "could not start" lines are skipped, so the quote is
    the cause (``ConfigException: ...``, ``Unrecognized VM option ...``).
    """
    fallback = ""
    best = ""
    for path in paths:
        try:
            lines = path.read_text(errors="replace").splitlines()[-400:]
        except OSError:
            continue
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith(("at ", "...")):
                continue
            fallback = line
            if any(b in line for b in _BOILERPLATE):
                continue
            if any(s in line for s in _SIGNALS):
                best = line
    chosen = best or fallback or "(log is empty)"
    return chosen if len(chosen) <= max_chars else chosen[: max_chars - 3] + "..."
