"""The secured variant of the local stack: TLS everywhere a client connects, real users.

``driftstream stack up --secure`` (and the tests' ``secure_stack``) runs the same Kafka
and redis-server as the plain stack, configured as production usually is:

* **Certificates** made at start with the ``openssl`` CLI (Debian's, the library Redis
  and Python already use): a throw-away CA and a server certificate for ``localhost`` /
  ``127.0.0.1`` (P-256, 30 days), in ``<stack>/tls``. Clients verify them with ``ca.crt``.
* **Kafka**: a ``SASL_SSL`` listener with SCRAM-SHA-512; the users are created by the
  Kafka tools themselves (``StorageTool format --add-scram``, KRaft). A loopback
  ``PLAINTEXT`` listener stays for the broker's own traffic and the readiness probe;
  clients are given the SASL_SSL address only.
* **Redis**: TLS only (``--port 0 --tls-port``), the ``default`` user off, and ACL
  users: ``driftstream`` may touch only ``ds:*`` keys (driftstream's prefix), ``admin``
  everything (tests and operators).

Passwords are random per start, kept in ``stack.json`` and ``secure.env`` (mode 0600)
and never printed: ``stack up --secure`` prints where the env file is.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stream.errors import StackError

from ._config import LOOPBACK
from ._prepare import find_tool

__all__ = [
    "KAFKA_MECHANISM",
    "REDIS_KEY_PATTERN",
    "Credentials",
    "TlsFiles",
    "kafka_secure_properties",
    "make_tls",
    "redis_acl",
    "redis_tls_args",
    "scram_format_args",
]

KAFKA_MECHANISM = "SCRAM-SHA-512"
REDIS_KEY_PATTERN = "ds:*"
CERT_DAYS = 30


@dataclass(frozen=True, slots=True)
class Credentials:
    """The users of one secured stack (random passwords, made at start)."""

    kafka_user: str
    kafka_password: str
    redis_user: str
    redis_password: str
    redis_admin_password: str

    @classmethod
    def new(cls) -> Credentials:
        """Fresh random passwords (hex: safe in every config syntax they pass through)."""
        return cls(
            kafka_user="driftstream",
            kafka_password=secrets.token_hex(16),
            redis_user="driftstream",
            redis_password=secrets.token_hex(16),
            redis_admin_password=secrets.token_hex(16),
        )


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The CA and the server certificate of one secured stack."""

    root: Path

    @property
    def ca(self) -> Path:
        """The CA certificate clients trust (PEM)."""
        return self.root / "ca.crt"

    @property
    def cert(self) -> Path:
        """The server certificate (PEM)."""
        return self.root / "server.crt"

    @property
    def key(self) -> Path:
        """The server's private key (PKCS#8 PEM, unencrypted, mode 0600)."""
        return self.root / "server.key"

    @property
    def kafka_keystore(self) -> Path:
        """Key + certificate in one PEM file: Kafka's ``ssl.keystore.type=PEM``."""
        return self.root / "kafka-keystore.pem"


def _openssl(args: list[str], cwd: Path) -> None:
    binary = find_tool("openssl", "openssl")
    done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [binary, *args], cwd=cwd, capture_output=True, check=False, timeout=60
    )
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        msg = f"openssl {args[0]} failed (exit {done.returncode}): {why[0]}"
        raise StackError(msg)


def make_tls(root: Path) -> TlsFiles:
    """A new CA and a server certificate for ``localhost``/``127.0.0.1`` in ``root``.

    Raises:
        StackError: openssl is missing or failed.
    """
    root.mkdir(parents=True, exist_ok=True)
    tls = TlsFiles(root)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl(
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", str(CERT_DAYS),
         "-subj", "/CN=driftstream local CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        root,
    )  # fmt: skip
    _openssl(["req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
              "-subj", "/CN=localhost"], root)  # fmt: skip
    (root / "server.ext").write_text(
        f"subjectAltName=DNS:localhost,IP:{LOOPBACK}\n"
        "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    _openssl(
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.crt", "-days", str(CERT_DAYS),
         "-extfile", "server.ext"],
        root,
    )  # fmt: skip
    for secret in (root / "ca.key", tls.key):
        secret.chmod(0o600)
    tls.kafka_keystore.write_text(tls.key.read_text() + tls.cert.read_text())
    tls.kafka_keystore.chmod(0o600)
    return tls


def kafka_secure_properties(
    *, port: int, sasl_port: int, controller_port: int, tls: TlsFiles
) -> dict[str, str]:
    """``server.properties`` entries adding the SASL_SSL (SCRAM-SHA-512) listener."""
    return {
        "listeners": (
            f"PLAINTEXT://{LOOPBACK}:{port},SASL_SSL://{LOOPBACK}:{sasl_port},"
            f"CONTROLLER://{LOOPBACK}:{controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{port},SASL_SSL://{LOOPBACK}:{sasl_port}",
        "listener.security.protocol.map": (
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL"
        ),
        "sasl.enabled.mechanisms": KAFKA_MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(tls.kafka_keystore),
        "ssl.client.auth": "none",
    }


def scram_format_args(creds: Credentials) -> list[str]:
    """``StorageTool format`` arguments that create the SCRAM user with the cluster."""
    return ["--add-scram", f"{KAFKA_MECHANISM}=[name={creds.kafka_user},"
            f"password={creds.kafka_password}]"]  # fmt: skip


def redis_acl(path: Path, creds: Credentials) -> Path:
    """Write the ACL file: default user off, ``driftstream`` on ``ds:*`` keys, ``admin``."""
    path.write_text(
        "user default off\n"
        f"user admin on >{creds.redis_admin_password} ~* &* +@all\n"
        f"user {creds.redis_user} on >{creds.redis_password} ~{REDIS_KEY_PATTERN} &* +@all "
        "-@admin -flushall -flushdb -keys\n"
    )
    path.chmod(0o600)
    return path


def redis_tls_args(tls_port: int, tls: TlsFiles, acl: Path) -> list[str]:
    """redis-server arguments: TLS only on ``tls_port``, users from ``acl``."""
    return [
        "--port", "0", "--tls-port", str(tls_port),
        "--tls-cert-file", str(tls.cert), "--tls-key-file", str(tls.key),
        "--tls-ca-cert-file", str(tls.ca), "--tls-auth-clients", "no",
        "--aclfile", str(acl),
    ]  # fmt: skip


def write_env(path: Path, env: dict[str, str]) -> Path:
    """A ``KEY=value`` file (mode 0600) a shell can source: ``set -a; . FILE; set +a``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# driftstream secured local stack: credentials, keep private\n")
        out.writelines(f"{k}={v}\n" for k, v in sorted(env.items()))
    return path
