"""The settings model: frozen pydantic sections, strict types, a description on every field."""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

from stream.catalog import Catalog
from stream.redact import redact_url

if TYPE_CHECKING:
    from stream.settings._describe import ConfigRow

__all__ = [
    "AlertsSettings",
    "ConsumerSettings",
    "EvaluateSettings",
    "IngestSettings",
    "KafkaSettings",
    "RedisSettings",
    "RedisUrl",
    "Settings",
    "TopicsSettings",
    "WebSettings",
    "sections",
    "unwrap",
]

_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")
_TOPIC = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
_MS = Annotated[int, Field(ge=0)]
_HOURS = 3_600_000
_DAYS = 24 * _HOURS


class RedisUrl(SecretStr):
    """A Redis URL shown with its secrets masked (:func:`stream.redact.redact_url`).

    >>> str(RedisUrl("redis://u:p@ss:S3CRET@host:6379/0?password=S3CRET"))
    'redis://u:***@host:6379/0?password=***'
    """

    def _display(self) -> str:
        return redact_url(self.get_secret_value())


def _no_credentials(value: str | None) -> str | None:
    """Links that alerts and pages carry must not carry a token or a password."""
    if value is not None and redact_url(value) != value:
        msg = "must not carry credentials (user:password@ or a token in the query)"
        raise ValueError(msg)
    return value


class KafkaSettings(BaseModel):
    """Kafka connection (all clients: consumer, producer, admin)."""

    model_config = _STRICT
    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        pattern=r"^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$",
        description="Comma-separated host:port list.",
    )
    client_id: str = Field(default="driftstream", min_length=1, description="Kafka client id.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = (
        Field(default=None, description="SASL mechanism (required with SASL_* protocols).")
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password (secret).")
    ssl_cafile: str | None = Field(default=None, description="CA bundle (PEM) for TLS.")
    ssl_certfile: str | None = Field(default=None, description="Client certificate (PEM).")
    ssl_keyfile: str | None = Field(default=None, description="Client private key (PEM).")

    @model_validator(mode="after")
    def _sasl(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and self.sasl_mechanism is None:
            msg = f"sasl_mechanism: required with security_protocol {self.security_protocol}"
            raise ValueError(msg)
        if self.sasl_mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512") and not (
            self.sasl_username and self.sasl_password
        ):
            msg = f"sasl_username: {self.sasl_mechanism} needs sasl_username and sasl_password"
            raise ValueError(msg)
        return self


class TopicsSettings(BaseModel):
    """Topic names, and the layout ``driftstream topics create`` uses."""

    model_config = _STRICT
    features: _TOPIC = Field(default="features", description="Feature events (input).")
    labels: _TOPIC = Field(default="labels", description="Late labels (input).")
    alerts: _TOPIC = Field(default="driftstream.alerts", description="Alerts (output).")
    dead_letter: _TOPIC = Field(
        default="driftstream.dead-letter", description="Rejected events with their reason."
    )
    sealed: _TOPIC = Field(
        default="driftstream.sealed", description="Internal 'hour sealed' notices."
    )
    partitions: int = Field(default=6, ge=1, description="Partitions for `topics create`.")
    replication_factor: int = Field(
        default=1, ge=1, description="Replication factor for `topics create`."
    )

    @model_validator(mode="after")
    def _distinct(self) -> TopicsSettings:
        seen: dict[str, str] = {}
        for key in ("features", "labels", "alerts", "dead_letter", "sealed"):
            name = getattr(self, key)
            if name in seen:
                msg = f"{key}: topic {name!r} is already used for {seen[name]}"
                raise ValueError(msg)
            seen[name] = key
        return self


class ConsumerSettings(BaseModel):
    """The ingest consumer group and its batch fetches."""

    model_config = _STRICT
    group_id: str = Field(default="driftstream", min_length=1, description="Consumer group.")
    batch_max_records: int = Field(
        default=10_000, ge=1, le=1_000_000, description="Most records per fetched batch."
    )
    fetch_max_wait_ms: _MS = Field(default=500, description="Broker wait for fetch_min_bytes.")
    fetch_min_bytes: int = Field(default=1, ge=1, description="Broker waits for this much data.")
    fetch_max_bytes: int = Field(
        default=52_428_800, ge=1, description="Most bytes per fetch response."
    )
    max_partition_fetch_bytes: int = Field(
        default=13_107_200, ge=1, description="Most bytes per partition per fetch."
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest", description="Where a new group starts when Redis holds no offset."
    )


class RedisSettings(BaseModel):
    """Redis (or Redis Cluster) holding sketches, offsets and watermarks."""

    model_config = _STRICT
    url: RedisUrl = Field(
        default=RedisUrl("redis://127.0.0.1:6379/0"),
        description="redis://, rediss:// (TLS) or unix:// URL; password parts are hidden.",
    )
    namespace: str = Field(
        default="ds", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Key prefix."
    )
    username: str | None = Field(default=None, description="ACL user (overrides the URL's).")
    password: SecretStr | None = Field(default=None, description="ACL password (secret).")
    tls_ca_file: str | None = Field(default=None, description="CA bundle for rediss://.")
    tls_cert_file: str | None = Field(default=None, description="Client certificate.")
    tls_key_file: str | None = Field(default=None, description="Client private key.")
    socket_timeout_ms: int = Field(default=5_000, ge=1, description="Socket timeout.")
    cluster: bool = Field(
        default=False,
        description="Redis Cluster: `url` is any node; the cluster client routes each "
        "(model, partition) slot.",
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: RedisUrl) -> RedisUrl:
        scheme = value.get_secret_value().partition("://")[0]
        if scheme not in ("redis", "rediss", "unix"):
            msg = f"must start with redis://, rediss:// or unix://, got {str(value)!r}"
            raise ValueError(msg)
        return value

    @field_serializer("url", when_used="json")
    def _masked(self, value: RedisUrl) -> str:
        return str(value)


class IngestSettings(BaseModel):
    """The ingest loop: flushing, event-time rules and contract limits."""

    model_config = _STRICT
    flush_every_events: int = Field(default=50_000, ge=1, description="Flush after this many.")
    flush_interval_ms: int = Field(default=5_000, ge=1, description="Flush at least this often.")
    allowed_lateness_ms: _MS = Field(
        default=120_000, description="Watermark = max event time - allowed lateness."
    )
    idle_partition_timeout_ms: int = Field(
        default=300_000,
        ge=1,
        description="Quiet this long, a partition seals the hours the wall clock has passed "
        "(end + allowed lateness).",
    )
    max_future_ms: _MS = Field(
        default=_HOURS, description="Reject event times this far after the record timestamp."
    )
    max_past_ms: _MS = Field(
        default=7 * _DAYS,
        description="Reject event times this far before the record timestamp or the worker's "
        "clock (now live, the range start in a replay).",
    )
    max_ahead_of_clock_ms: _MS = Field(
        default=300_000,
        description="Dead-letter (ts_in_future) event times this far ahead of the worker's "
        "clock (wall clock live, the range end in a replay).",
    )
    watermark_min_events: int = Field(
        default=10,
        ge=1,
        le=256,
        description="The watermark passes a time only after this many consecutive events "
        "(offset order) are at or past it: one outlier cannot seal hours.",
    )
    max_open_hours: int = Field(
        default=48,
        ge=2,
        le=10_000,
        description="Most unsealed hours per model and partition; events opening more are "
        "dead-lettered (too_many_open_hours).",
    )
    max_undeclared_keys: int = Field(
        default=100,
        ge=0,
        description="Undeclared feature keys tracked per model-hour and partition; the rest "
        "are counted as one overflow total.",
    )
    health_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        description="/health turns 503 when Redis or Kafka has not answered for this long.",
    )
    max_event_bytes: int = Field(
        default=65_536, ge=64, description="Reject record values larger than this."
    )
    max_value_bytes: int = Field(
        default=1_024, ge=1, description="Reject events whose id/categorical value is longer."
    )

    @model_validator(mode="after")
    def _limits(self) -> IngestSettings:
        if self.max_value_bytes > self.max_event_bytes:
            msg = f"max_value_bytes: {self.max_value_bytes} exceeds max_event_bytes"
            raise ValueError(msg)
        return self


class EvaluateSettings(BaseModel):
    """Window evaluation and sketch retention."""

    model_config = _STRICT
    hour_enabled: bool = Field(default=True, description="Evaluate hourly windows.")
    day_enabled: bool = Field(default=True, description="Evaluate daily windows.")
    partition_sketch_retention_ms: int = Field(
        default=2 * _DAYS, ge=_HOURS, description="Keep per-partition hour sketches this long."
    )
    merged_sketch_retention_ms: int = Field(
        default=35 * _DAYS,
        ge=8 * _DAYS,
        description="Keep merged hour/day sketches this long (>= 8 days for seasonal baselines).",
    )
    decision_retention_ms: int = Field(
        default=90 * _DAYS,
        ge=_DAYS,
        description="Keep each window's stored decisions (dashboard history, reports) this "
        "long; alert lifecycle states are kept. A replay's namespace keeps them.",
    )
    # -- issue 12 (k12w): a window whose evaluation keeps raising stops blocking --
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="Evaluations of one window that may fail (raise, or end with their "
        "process) before it is marked failed, logged and skipped (it would otherwise block "
        "the model's later windows). Counted in Redis: a restart does not reset it.",
    )


class WebSettings(BaseModel):
    """The HTTP server: /health, /metrics, JSON API, dashboard."""

    model_config = _STRICT
    host: str = Field(default="127.0.0.1", min_length=1, description="Listen address.")
    port: int = Field(default=8080, ge=0, le=65_535, description="Listen port (0: any free).")
    token: SecretStr | None = Field(
        default=None,
        description="Token for the dashboard and /api (secret); unset: no auth.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Signs session cookies (secret); change it to end every session. "
        "Unset: derived from the token.",
    )
    session_secret_previous: SecretStr | None = Field(
        default=None,
        description="The secret before a rotation: its sessions stay valid until they expire.",
    )
    session_ttl_ms: int = Field(
        default=12 * _HOURS, ge=60_000, le=30 * _DAYS, description="Sessions expire after this."
    )
    secure_cookies: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Secure flag on the session cookie; auto: when served over TLS, behind "
        "a proxy saying X-Forwarded-Proto: https, or when alerts.dashboard_base_url is https.",
    )


class AlertsSettings(BaseModel):
    """Links that alerts carry."""

    model_config = _STRICT
    dashboard_base_url: str = Field(
        default="http://127.0.0.1:8080",
        pattern=r"^https?://\S+$",
        description="Base of dashboard links in alerts.",
    )
    runbook_url: str | None = Field(
        default=None, pattern=r"^https?://\S+$", description="Default runbook link."
    )

    _links = field_validator("dashboard_base_url", "runbook_url")(_no_credentials)


class Settings(BaseModel):
    """Everything a driftstream process is configured with (frozen)."""

    model_config = _STRICT
    kafka: KafkaSettings = Field(default_factory=KafkaSettings, description="Kafka.")
    topics: TopicsSettings = Field(default_factory=TopicsSettings, description="Topics.")
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings, description="Consumer.")
    redis: RedisSettings = Field(default_factory=RedisSettings, description="Redis.")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Ingest.")
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings, description="Evaluate.")
    web: WebSettings = Field(default_factory=WebSettings, description="Web server.")
    alerts: AlertsSettings = Field(default_factory=AlertsSettings, description="Alert links.")
    models: Catalog = Field(default_factory=lambda: Catalog({}), description="Models.")

    def redacted(self) -> dict[str, Any]:
        """JSON-safe dict of every setting with secrets masked (for ``config show``)."""
        return self.model_dump(mode="json")

    @classmethod
    def describe(cls) -> list[ConfigRow]:
        """Rows of the config reference: see :func:`stream.settings.describe`."""
        from stream.settings._describe import describe  # here: _describe imports this module

        return list(describe())


def sections() -> dict[str, type[BaseModel]]:
    out: dict[str, type[BaseModel]] = {}
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel) and ann is not Catalog:
            out[name] = ann
    return out


def unwrap(annotation: Any) -> tuple[Any, bool]:
    """(base type, optional?) of ``X | None`` / ``Annotated[X, ...]`` annotations."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) != 1:
                return annotation, optional
            annotation = args[0]
        else:
            return annotation, optional
