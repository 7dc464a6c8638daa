"""Is it up? A Kafka Metadata request and a Redis PING over plain sockets.

The probes speak the wire protocols directly (a few bytes each) so that the stack
tooling imports no client library: clients live in ``stream.adapters``, and a
probe that fails says exactly why instead of retrying in a background thread.
"""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass

from stream.errors import ProbeError

__all__ = [
    "KafkaMetadata",
    "ProbeError",
    "RedisTls",
    "kafka_group_coordinator",
    "kafka_metadata",
    "redis_ping",
]

_METADATA_API_KEY = 3
_FIND_COORDINATOR_API_KEY = 10
# v1: non-flexible and still accepted by Kafka 4.x (KIP-896 dropped only v0).
_FIND_COORDINATOR_VERSION = 1
# v4: the oldest version every Kafka 4.x broker accepts that also returns the
# cluster id; its layout is non-flexible (no tagged fields), easy to read by hand.
_METADATA_VERSION = 4
_CLIENT_ID = b"driftstream-localstack"


@dataclass(frozen=True, slots=True)
class KafkaMetadata:
    """What a Metadata response says about the cluster."""

    cluster_id: str | None
    broker_ids: tuple[int, ...]
    controller_id: int


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            msg = "connection closed mid-response"
            raise ProbeError(msg)
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self._data, self._pos)
        self._pos += struct.calcsize(fmt)
        return int(value)

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def nullable_string(self) -> str | None:
        size = self.int16()
        if size < 0:
            return None
        raw = self._data[self._pos : self._pos + size]
        self._pos += size
        return raw.decode("utf-8")


def _kafka_call(
    host: str, port: int, api_key: int, version: int, body: bytes, timeout_s: float
) -> _Reader:
    correlation_id = 1
    header = struct.pack(">hhih", api_key, version, correlation_id, len(_CLIENT_ID))
    request = header + _CLIENT_ID + body
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        reader = _Reader(_recv_exactly(sock, size))
    if reader.int32() != correlation_id:
        msg = "correlation id mismatch"
        raise ProbeError(msg)
    return reader


def kafka_metadata(host: str, port: int, timeout_s: float = 2.0) -> KafkaMetadata:
    """Send one Metadata v4 request (no topics) and parse the brokers and cluster id.

    Raises:
        OSError: nothing listens, or the connection failed.
        ProbeError: the answer was cut short or malformed.
    """
    # topics = empty array (not null: null means "all topics"), allow_auto_create = false
    body = struct.pack(">ib", 0, 0)
    try:
        reader = _kafka_call(host, port, _METADATA_API_KEY, _METADATA_VERSION, body, timeout_s)
        reader.int32()  # throttle_time_ms
        brokers = []
        for _ in range(reader.int32()):
            brokers.append(reader.int32())  # node_id
            reader.nullable_string()  # host
            reader.int32()  # port
            reader.nullable_string()  # rack
        cluster_id = reader.nullable_string()
        controller_id = reader.int32()
    except struct.error as exc:
        msg = f"malformed Metadata response: {exc}"
        raise ProbeError(msg) from exc
    return KafkaMetadata(
        cluster_id=cluster_id, broker_ids=tuple(brokers), controller_id=controller_id
    )


def kafka_group_coordinator(host: str, port: int, group: str, timeout_s: float = 2.0) -> int:
    """Ask for a consumer group's coordinator; return the Kafka error code (0 = found).

    The first such request on a fresh cluster creates ``__consumer_offsets``;
    until its partitions are loaded the answer is 15 (COORDINATOR_NOT_AVAILABLE).

    Raises:
        OSError: nothing listens, or the connection failed.
        ProbeError: the answer was cut short or malformed.
    """
    key = group.encode("utf-8")
    body = struct.pack(">h", len(key)) + key + struct.pack(">b", 0)  # key_type 0 = group
    try:
        reader = _kafka_call(
            host, port, _FIND_COORDINATOR_API_KEY, _FIND_COORDINATOR_VERSION, body, timeout_s
        )
        reader.int32()  # throttle_time_ms
        return reader.int16()
    except struct.error as exc:
        msg = f"malformed FindCoordinator response: {exc}"
        raise ProbeError(msg) from exc


@dataclass(frozen=True, slots=True)
class RedisTls:
    """How to reach the secured stack's Redis: TLS with this CA, then AUTH user password."""

    ca_file: str
    user: str
    password: str


def _command(*parts: str) -> bytes:
    out = f"*{len(parts)}\r\n".encode()
    for part in parts:
        data = part.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def _line(sock: socket.socket) -> bytes:
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        reply += chunk
    return reply


def redis_ping(host: str, port: int, timeout_s: float = 2.0, *, tls: RedisTls | None = None) -> str:
    """Send ``PING`` and return the reply line (``+PONG`` when ready, ``-LOADING ...`` not yet).

    With ``tls``: a verified TLS connection and ``AUTH`` first (a failed AUTH is returned).

    Raises:
        OSError: nothing listens, or the connection (or TLS handshake) failed.
    """
    raw = socket.create_connection((host, port), timeout=timeout_s)
    sock = raw
    try:
        if tls is not None:
            ctx = ssl.create_default_context(cafile=tls.ca_file)
            sock = ctx.wrap_socket(raw, server_hostname=host)
            sock.sendall(_command("AUTH", tls.user, tls.password))
            auth = _line(sock)
            if not auth.startswith(b"+OK"):
                return auth.decode("utf-8", "replace").strip()
        sock.sendall(_command("PING"))
        return _line(sock).decode("utf-8", "replace").strip()
    finally:
        sock.close()
        raw.close()
