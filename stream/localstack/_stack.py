"""The stack as a value: start it, find it again from ``stack.json``, stop it."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stream.errors import StackError

from ._config import LOOPBACK, default_stack_dir
from ._kafka import KafkaFiles, new_cluster_id
from ._launch import launch
from ._prepare import find_redis_server, prepare
from ._probe import ProbeError, RedisTls, kafka_metadata, redis_ping
from ._proc import check_port_free, choose_ports, file_lock, free_ports, now_ms, terminate
from ._redis import RedisFiles, start_redis, wait_redis
from ._secure import KAFKA_MECHANISM, Credentials, TlsFiles, redis_tls_args, write_env
from ._status import StackStatus, _is_kafka, _is_redis, _iso, _stop_processes

__all__ = [
    "ENV_BOOTSTRAP",
    "ENV_REDIS_URL",
    "SECURE_ENV_FILE",
    "STATE_FILE",
    "LocalStack",
]

log = logging.getLogger("stream.localstack")

STATE_FILE = "stack.json"
SECURE_ENV_FILE = "secure.env"
ENV_BOOTSTRAP = "DRIFTSTREAM_KAFKA_BOOTSTRAP"
ENV_REDIS_URL = "DRIFTSTREAM_REDIS_URL"
_STATE_FORMAT = 1
# Written into every stack directory we create; we only ever wipe subdirectories of
# a directory that carries it, so a mistyped --stack-dir cannot delete user files.
_OWNER_MARK = ".driftstream-stack"


def _claim_dir(stack_dir: Path) -> None:
    mark = stack_dir / _OWNER_MARK
    if stack_dir.exists() and any(stack_dir.iterdir()) and not mark.exists():
        msg = (
            f"{stack_dir} is not empty and was not created by driftstream; choose another stack dir"
        )
        raise StackError(msg)
    stack_dir.mkdir(parents=True, exist_ok=True)
    mark.touch()


@dataclass
class LocalStack:
    """A Kafka broker (KRaft, one node) and a Redis server on loopback ports.

    A stack is *managed* when this module started it (``stack_dir`` holds its
    files, logs and ``stack.json``) and *attached* when it only knows addresses
    of servers someone else runs (``attach``); only a managed stack can be
    stopped or have its Redis restarted.

    Attributes:
        bootstrap: Kafka bootstrap servers, ``host:port``.
        redis_url: ``redis://host:port/0``.
        stack_dir: the managed stack's directory, None when attached.
        kafka_port: broker (PLAINTEXT) port.
        controller_port: KRaft controller port.
        redis_port: Redis port; kept across ``restart_redis``.
        kafka_pid: broker JVM pid.
        redis_pid: redis-server pid; None while Redis is stopped.
        kafka_version: the broker version from ``deploy/local/pom.xml``.
        cluster_id: the KRaft cluster id of this run.
        started_ms: when ``up`` finished (epoch ms, UTC).
        redis_server: the redis-server binary, reused by ``start_redis``.
        secure: Kafka has a SASL_SSL (SCRAM-SHA-512) listener on ``sasl_port`` and Redis
            speaks TLS only, with ACL users (see ``stream.localstack._secure``).
        sasl_port: the SASL_SSL listener (secured stacks).
        credentials: the secured stack's users and passwords (never printed).
        reused: True when ``start`` found this stack already running.
    """

    bootstrap: str
    redis_url: str
    stack_dir: Path | None = None
    kafka_port: int = 0
    controller_port: int = 0
    redis_port: int = 0
    kafka_pid: int | None = None
    redis_pid: int | None = None
    kafka_version: str = ""
    cluster_id: str = ""
    started_ms: int = 0
    redis_server: str = ""
    secure: bool = False
    sasl_port: int = 0
    credentials: Credentials | None = field(default=None, compare=False, repr=False)
    reused: bool = field(default=False, compare=False)
    die_with_parent: bool = field(default=False, compare=False, repr=False)

    # -- construction -------------------------------------------------------------
    @classmethod
    def attach(cls, bootstrap: str, redis_url: str) -> LocalStack:
        """Wrap servers that run elsewhere (e.g. ``DRIFTSTREAM_TEST_*`` in CI).

        Raises:
            StackError: the addresses are malformed.
        """
        first = bootstrap.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        url = urlsplit(redis_url)
        if not host or not port.isdigit() or url.scheme not in ("redis", "rediss"):
            msg = (
                f"cannot attach to kafka {bootstrap!r} / redis {redis_url!r}: "
                "expected host:port and redis://host:port/db"
            )
            raise StackError(msg)
        return cls(
            bootstrap=bootstrap,
            redis_url=redis_url,
            kafka_port=int(port),
            redis_port=url.port or 6379,
        )

    @classmethod
    def load(cls, stack_dir: Path | None = None) -> LocalStack | None:
        """The stack recorded in ``<stack_dir>/stack.json`` (running or not), or None."""
        stack_dir = _resolve(stack_dir)
        try:
            raw = json.loads((stack_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            msg = f"unreadable stack state {stack_dir / STATE_FILE}: {exc}"
            raise StackError(msg) from exc
        if not isinstance(raw, dict) or raw.get("format") != _STATE_FORMAT:
            msg = f"{stack_dir / STATE_FILE} was written by another driftstream version; remove it"
            raise StackError(msg)
        kafka, redis = raw["kafka"], raw["redis"]
        secure = raw.get("secure")
        scheme = "rediss" if secure else "redis"
        return cls(
            bootstrap=f"{LOOPBACK}:{kafka['port']}",
            redis_url=f"{scheme}://{LOOPBACK}:{redis['port']}/0",
            secure=bool(secure),
            sasl_port=int(kafka.get("sasl_port", 0)),
            credentials=Credentials(**secure) if secure else None,
            stack_dir=stack_dir,
            kafka_port=int(kafka["port"]),
            controller_port=int(kafka["controller_port"]),
            redis_port=int(redis["port"]),
            kafka_pid=kafka.get("pid"),
            redis_pid=redis.get("pid"),
            kafka_version=str(kafka["version"]),
            cluster_id=str(kafka["cluster_id"]),
            started_ms=int(raw["started_ms"]),
            redis_server=str(redis["binary"]),
        )

    @classmethod
    def start(
        cls,
        stack_dir: Path | None = None,
        *,
        kafka_port: int | None = None,
        redis_port: int | None = None,
        jvm_opts: Sequence[str] = (),
        kafka_properties: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        timeout_s: float = 120.0,
        install_redis: bool = True,
        die_with_parent: bool = False,
        secure: bool = False,
    ) -> LocalStack:
        """Start the stack, or return the one already running in ``stack_dir``.

        Every fresh start wipes the previous run's Kafka and Redis data: the local
        stack is a scratch environment. A failed start stops whatever it started.

        Args:
            stack_dir: files, logs and ``stack.json`` (default ``default_stack_dir()``).
            kafka_port: broker port; default a free one. Taken → StackError.
            redis_port: Redis port; default a free one. Taken → StackError.
            jvm_opts: extra broker JVM options, after the defaults (so ``-Xmx1g`` wins).
            kafka_properties: ``server.properties`` entries replacing the defaults.
            cache_dir: where the Kafka jars are cached (see ``prepare``).
            timeout_s: how long each server may take to answer.
            install_redis: apt-get install redis-server when it is missing.
            die_with_parent: SIGTERM both servers when this process dies (tests).
            secure: SASL_SSL (SCRAM-SHA-512) Kafka and TLS + ACL Redis; a running
                stack of the other kind in ``stack_dir`` is an error.

        Returns:
            The running stack; ``reused`` says whether it was already up.

        Raises:
            StackError: a tool is missing, a requested port is taken, or a server
                failed to start (the message quotes its log and names the file).
        """
        stack_dir = _resolve(stack_dir)
        _claim_dir(stack_dir)
        with file_lock(stack_dir / ".lock"):
            current = previous = cls.load(stack_dir)
            if current is not None:
                if current.status().running:
                    _check_ports(current, kafka_port, redis_port)
                    if current.secure != secure:
                        kind = "secured" if current.secure else "plain"
                        msg = (
                            f"a {kind} stack already runs in {stack_dir}; "
                            "run `driftstream stack down` first to switch"
                        )
                        raise StackError(msg)
                    current.reused = True
                    return current
                log.warning("stack in %s is only partly running; restarting it", stack_dir)
                _stop_processes(current, timeout_s=30.0)
                (stack_dir / STATE_FILE).unlink(missing_ok=True)

            prepared = prepare(cache_dir, install_redis=install_redis)
            if kafka_port is not None:
                check_port_free(kafka_port, "kafka", "--kafka-port")
            if redis_port is not None:
                check_port_free(redis_port, "redis", "--redis-port")
            log.info("starting kafka %s + redis in %s", prepared.kafka_version, stack_dir)
            olds = None
            if previous is not None:
                olds = (previous.kafka_port, previous.controller_port, previous.redis_port)
            ports = choose_ports((kafka_port, None, redis_port), olds)
            sasl_port = free_ports(1, exclude=list(ports))[0] if secure else 0
            stack = cls(
                bootstrap="",
                redis_url="",
                stack_dir=stack_dir,
                kafka_port=ports[0],
                controller_port=ports[1],
                redis_port=ports[2],
                kafka_version=prepared.kafka_version,
                cluster_id=new_cluster_id(),
                redis_server=prepared.redis_server,
                die_with_parent=die_with_parent,
                secure=secure,
                sasl_port=sasl_port,
                credentials=Credentials.new() if secure else None,
            )
            stack.bootstrap = f"{LOOPBACK}:{stack.kafka_port}"
            scheme = "rediss" if secure else "redis"
            stack.redis_url = f"{scheme}://{LOOPBACK}:{stack.redis_port}/0"
            launch(
                stack,
                stack_dir,
                prepared,
                jvm_opts=jvm_opts,
                kafka_properties=kafka_properties,
                timeout_s=timeout_s,
            )
            stack.started_ms = now_ms()
            stack._save()
            if stack.secure:
                write_env(stack_dir / SECURE_ENV_FILE, stack.env(secrets=True))
            return stack

    # -- properties ---------------------------------------------------------------
    @property
    def managed(self) -> bool:
        """True when this module started the servers (they can be stopped here)."""
        return self.stack_dir is not None

    @property
    def kafka_log(self) -> Path | None:
        """The broker's log file (managed stacks)."""
        return None if self.stack_dir is None else KafkaFiles(self.stack_dir).server_log

    @property
    def redis_log(self) -> Path | None:
        """Redis' log file (managed stacks)."""
        return None if self.stack_dir is None else RedisFiles(self.stack_dir).log

    @property
    def tls_files_dir(self) -> Path:
        """Where a secured stack keeps its CA and certificates."""
        return self._require_managed("find certificates") / "tls"

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate clients of a secured stack trust."""
        return TlsFiles(self.tls_files_dir).ca if self.secure else None

    @property
    def client_bootstrap(self) -> str:
        """Where clients connect: the SASL_SSL listener of a secured stack."""
        return f"{LOOPBACK}:{self.sasl_port}" if self.secure else self.bootstrap

    @property
    def redis_probe(self) -> RedisTls | None:
        """TLS + AUTH details for probing a secured stack's Redis (as admin)."""
        if self.credentials is None or self.ca_file is None:
            return None
        return RedisTls(str(self.ca_file), "admin", self.credentials.redis_admin_password)

    def env(self, *, secrets: bool = False) -> dict[str, str]:
        """The ``DRIFTSTREAM_*`` variables that point driftstream at this stack.

        A secured stack adds its protocol, users and CA file; passwords only with
        ``secrets=True`` (what ``secure.env`` holds), never in printed output.
        """
        env = {ENV_BOOTSTRAP: self.client_bootstrap, ENV_REDIS_URL: self.redis_url}
        creds, ca = self.credentials, self.ca_file
        if creds is None or ca is None:
            return env
        env.update(
            {
                "DRIFTSTREAM_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
                "DRIFTSTREAM_KAFKA__SASL_MECHANISM": KAFKA_MECHANISM,
                "DRIFTSTREAM_KAFKA__SASL_USERNAME": creds.kafka_user,
                "DRIFTSTREAM_KAFKA__SSL_CAFILE": str(ca),
                "DRIFTSTREAM_REDIS__USERNAME": creds.redis_user,
                "DRIFTSTREAM_REDIS__TLS_CA_FILE": str(ca),
            }
        )
        if secrets:
            env["DRIFTSTREAM_KAFKA__SASL_PASSWORD"] = creds.kafka_password
            env["DRIFTSTREAM_REDIS__PASSWORD"] = creds.redis_password
        return env

    def describe(self) -> list[str]:
        """Connection details as shell comments plus one ``export`` line (eval-safe)."""
        state = "reused, already running" if self.reused else "started"
        if self.secure:
            lines = [
                f"# kafka {self.kafka_version} (KRaft, 1 node): SASL_SSL {KAFKA_MECHANISM} on "
                f"{self.client_bootstrap}  pid {self.kafka_pid}",
                f"# redis (TLS + ACL users, AOF on): {self.redis_url}  pid {self.redis_pid}",
                f"# CA certificate: {self.ca_file}",
            ]
        else:
            lines = [
                f"# kafka {self.kafka_version} (KRaft, 1 node): {self.bootstrap}  "
                f"pid {self.kafka_pid}",
                f"# redis (AOF on): {self.redis_url}  pid {self.redis_pid}",
            ]
        if self.stack_dir is not None:
            lines.append(f"# {state} {_iso(self.started_ms)}; files and logs in {self.stack_dir}")
        if self.secure and self.stack_dir is not None:
            env_file = self.stack_dir / SECURE_ENV_FILE
            lines.append(f"# passwords are not printed: set -a; . {env_file}; set +a")
        exports = " ".join(f"{k}={v}" for k, v in self.env().items())
        lines.append(f"export {exports}")
        return lines

    # -- lifecycle ----------------------------------------------------------------
    def status(self) -> StackStatus:
        """Probe the recorded processes and ports."""
        kafka_alive = self.kafka_pid is not None and _is_kafka(self, self.kafka_pid)
        redis_alive = self.redis_pid is not None and _is_redis(self, self.redis_pid)
        host = self.bootstrap.split(",")[0].rpartition(":")[0] or LOOPBACK
        try:
            kafka_answers = bool(kafka_metadata(host, self.kafka_port).broker_ids)
        except (OSError, ProbeError):
            kafka_answers = False
        try:
            host_r = urlsplit(self.redis_url).hostname or LOOPBACK
            redis_answers = redis_ping(host_r, self.redis_port, tls=self.redis_probe) == "+PONG"
        except OSError:
            redis_answers = False
        if not self.managed:
            # Attached: we know no pids, so answering is what counts.
            kafka_alive, redis_alive = kafka_answers, redis_answers
        return StackStatus(self, kafka_alive, kafka_answers, redis_alive, redis_answers)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop Kafka, then Redis (SIGTERM, SIGKILL after ``timeout_s``); remove ``stack.json``.

        Raises:
            StackError: the stack is attached, not managed here.
        """
        stack_dir = self._require_managed("stop")
        with file_lock(stack_dir / ".lock"):
            # The state file may know a newer redis pid than this object (restarts).
            recorded = LocalStack.load(stack_dir)
            if recorded is not None and recorded.cluster_id == self.cluster_id:
                self.kafka_pid, self.redis_pid = recorded.kafka_pid, recorded.redis_pid
            _stop_processes(self, timeout_s)
            (stack_dir / STATE_FILE).unlink(missing_ok=True)

    def stop_redis(self, *, kill: bool = False, timeout_s: float = 10.0) -> None:
        """Stop only redis-server, keeping its data directory and port.

        Args:
            kill: SIGKILL at once (a crash: up to ~1 s of AOF may be lost) instead
                of SIGTERM (Redis fsyncs the AOF and exits cleanly).
            timeout_s: grace period before SIGKILL.
        """
        stack_dir = self._require_managed("stop redis")
        with file_lock(stack_dir / ".lock"):
            if self.redis_pid is not None and _is_redis(self, self.redis_pid):
                terminate(
                    self.redis_pid, name="redis-server", timeout_s=timeout_s, graceful=not kill
                )
            self.redis_pid = None
            self._save()

    def start_redis(self, timeout_s: float = 30.0) -> None:
        """Start redis-server again on the same port and data directory (AOF reloads).

        Raises:
            StackError: the port was taken meanwhile, or Redis failed to start.
        """
        stack_dir = self._require_managed("start redis")
        with file_lock(stack_dir / ".lock"):
            if self.redis_pid is not None and _is_redis(self, self.redis_pid):
                return
            check_port_free(self.redis_port, "redis", "--redis-port")
            files = RedisFiles(stack_dir)
            binary = self.redis_server or find_redis_server(install=False)
            extra: list[str] = []
            if self.credentials is not None:
                acl = files.root / "users.acl"
                extra = redis_tls_args(self.redis_port, TlsFiles(self.tls_files_dir), acl)
            pid = start_redis(
                binary, files, self.redis_port, die_with_parent=self.die_with_parent, extra=extra
            )
            wait_redis(pid, self.redis_port, files, timeout_s, secure=self.redis_probe)
            self.redis_pid = pid
            self._save()

    def restart_redis(self, *, kill: bool = False, timeout_s: float = 30.0) -> None:
        """``stop_redis`` then ``start_redis``: same port, same data, new pid."""
        self.stop_redis(kill=kill)
        self.start_redis(timeout_s=timeout_s)

    # -- internals ----------------------------------------------------------------
    def _require_managed(self, what: str) -> Path:
        if self.stack_dir is None:
            msg = (
                f"cannot {what}: this stack is attached "
                f"({self.bootstrap}, {self.redis_url}), not managed here"
            )
            raise StackError(msg)
        return self.stack_dir

    def _save(self) -> None:
        stack_dir = self._require_managed("save")
        state: dict[str, Any] = {
            "format": _STATE_FORMAT,
            "started_ms": self.started_ms,
            "secure": None if self.credentials is None else asdict(self.credentials),
            "kafka": {
                "pid": self.kafka_pid,
                "port": self.kafka_port,
                "sasl_port": self.sasl_port,
                "controller_port": self.controller_port,
                "version": self.kafka_version,
                "cluster_id": self.cluster_id,
            },
            "redis": {"pid": self.redis_pid, "port": self.redis_port, "binary": self.redis_server},
        }
        tmp = stack_dir / f"{STATE_FILE}.tmp-{os.getpid()}"
        # 0600: a secured stack's passwords live here.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(state, indent=2) + "\n")
        # Atomic: a reader sees the old state or the new one, never half a file.
        tmp.replace(stack_dir / STATE_FILE)


def _resolve(stack_dir: Path | None) -> Path:
    return (stack_dir or default_stack_dir()).expanduser().absolute()


def _check_ports(stack: LocalStack, kafka_port: int | None, redis_port: int | None) -> None:
    for what, asked, actual in (
        ("kafka", kafka_port, stack.kafka_port),
        ("redis", redis_port, stack.redis_port),
    ):
        if asked is not None and asked != actual:
            msg = (
                f"a stack already runs in {stack.stack_dir} with {what} on port {actual}, "
                f"not {asked}; run `driftstream stack down` first to change ports"
            )
            raise StackError(msg)
