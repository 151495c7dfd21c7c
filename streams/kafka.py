"""Kafka client settings, from flags and the environment, turned into aiokafka and Faust arguments.

Every command takes ``--broker`` / ``PIONEER_BROKER``. Production settings pass through the environment:

============================== =======================================================================
``PIONEER_BROKER``              bootstrap servers, comma separated (default ``127.0.0.1:9092``)
``PIONEER_TOPIC_PREFIX``        topic name prefix (default ``pioneer.``)
``PIONEER_KAFKA_SECURITY``      ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``
``PIONEER_KAFKA_SASL_MECHANISM`` ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``
``PIONEER_KAFKA_SASL_USERNAME`` / ``PIONEER_KAFKA_SASL_PASSWORD``
``PIONEER_KAFKA_SSL_CAFILE`` / ``PIONEER_KAFKA_SSL_CERTFILE`` / ``PIONEER_KAFKA_SSL_KEYFILE``
``PIONEER_KAFKA_ACKS``          ``0``, ``1`` or ``all`` (default ``all``)
``PIONEER_KAFKA_COMPRESSION``   ``none`` (default), ``gzip``, ``lz4``, ``snappy`` or ``zstd``
``PIONEER_KAFKA_LINGER_MS``     producer batching delay (default 5)
``PIONEER_REPLICATION``         replication factor of the topics Pioneer creates (default 1: one broker)
``PIONEER_KAFKA_IDEMPOTENCE``   ``1`` turns the idempotent producer on (off by default: the embedded
                                broker does not support it; delivery is at-least-once and consumers
                                deduplicate by event id)
============================== =======================================================================
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, replace
from typing import Any

from pioneer.errors import ConfigError
from pioneer.settings import DEFAULT_BROKER
from pioneer.topics import CATALOGUE, DEFAULT_PREFIX, TopicCatalogue

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
COMPRESSIONS = ("none", "gzip", "lz4", "snappy", "zstd")
MAX_RECORD_BYTES = 1_000_000
"""The largest record value Pioneer writes: below Kafka's default ``message.max.bytes`` (1 MiB plus a header)
and aiokafka's ``max_request_size`` (1 MiB), which would refuse it on every retry."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaSettings:
    """How to reach the brokers and how to produce."""

    bootstrap_servers: str = DEFAULT_BROKER
    topic_prefix: str = DEFAULT_PREFIX
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    acks: str = "all"
    compression: str = "none"
    linger_ms: int = 5
    idempotence: bool = False
    replication: int = 1
    session_timeout: float = 60.0
    """Seconds a consumer-group member may go silent before its partitions move to the others."""

    def __post_init__(self) -> None:
        if not self.bootstrap_servers.strip():
            raise ConfigError("broker (PIONEER_BROKER) must name at least one host:port")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(f"PIONEER_KAFKA_SECURITY must be one of {SECURITY_PROTOCOLS}, got {self.security_protocol!r}")
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise ConfigError(f"PIONEER_KAFKA_SASL_MECHANISM must be one of {SASL_MECHANISMS} with SASL")
            if not (self.sasl_username and self.sasl_password):
                raise ConfigError("SASL needs PIONEER_KAFKA_SASL_USERNAME and PIONEER_KAFKA_SASL_PASSWORD")
        if self.acks not in ("0", "1", "all"):
            raise ConfigError(f"PIONEER_KAFKA_ACKS must be 0, 1 or all, got {self.acks!r}")
        if self.replication < 1:
            raise ConfigError(f"PIONEER_REPLICATION must be >= 1, got {self.replication}")
        if self.compression not in COMPRESSIONS:
            raise ConfigError(f"PIONEER_KAFKA_COMPRESSION must be one of {COMPRESSIONS}, got {self.compression!r}")

    @classmethod
    def from_env(cls, broker: str | None = None, **overrides: Any) -> KafkaSettings:
        """Settings from ``PIONEER_*`` variables; ``broker`` (a flag) wins over ``PIONEER_BROKER``."""
        env = os.environ.get
        settings = cls(
            bootstrap_servers=broker or env("PIONEER_BROKER") or DEFAULT_BROKER,
            topic_prefix=env("PIONEER_TOPIC_PREFIX") or DEFAULT_PREFIX,
            security_protocol=env("PIONEER_KAFKA_SECURITY") or "PLAINTEXT",
            sasl_mechanism=env("PIONEER_KAFKA_SASL_MECHANISM"),
            sasl_username=env("PIONEER_KAFKA_SASL_USERNAME"),
            sasl_password=env("PIONEER_KAFKA_SASL_PASSWORD"),
            ssl_cafile=env("PIONEER_KAFKA_SSL_CAFILE"),
            ssl_certfile=env("PIONEER_KAFKA_SSL_CERTFILE"),
            ssl_keyfile=env("PIONEER_KAFKA_SSL_KEYFILE"),
            acks=env("PIONEER_KAFKA_ACKS") or "all",
            compression=env("PIONEER_KAFKA_COMPRESSION") or "none",
            linger_ms=int(env("PIONEER_KAFKA_LINGER_MS") or 5),
            idempotence=(env("PIONEER_KAFKA_IDEMPOTENCE") or "0") in ("1", "true", "yes"),
            replication=int(env("PIONEER_REPLICATION") or 1),
            session_timeout=float(env("PIONEER_KAFKA_SESSION_TIMEOUT") or 60.0),
        )
        return replace(settings, **overrides) if overrides else settings

    @property
    def catalogue(self) -> TopicCatalogue:
        """The topic catalogue under this deployment's prefix."""
        return CATALOGUE if self.topic_prefix == DEFAULT_PREFIX else CATALOGUE.with_prefix(self.topic_prefix)

    def topic(self, event_type: str) -> str:
        """The topic name an event type is published to."""
        return self.catalogue.by_event_type(event_type).name

    # -------------------------------------------------------------------------------------- aiokafka arguments

    def client_kwargs(self) -> dict[str, Any]:
        """Connection arguments shared by aiokafka producers, consumers and the admin client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            kwargs["ssl_context"] = self.ssl_context()
        if self.security_protocol.startswith("SASL"):
            kwargs.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        return kwargs

    def producer_kwargs(self) -> dict[str, Any]:
        return {
            **self.client_kwargs(),
            "acks": self.acks if self.acks == "all" else int(self.acks),
            "compression_type": None if self.compression == "none" else self.compression,
            "linger_ms": self.linger_ms,
            "enable_idempotence": self.idempotence,
        }

    def consumer_kwargs(self, group_id: str | None) -> dict[str, Any]:
        # Offsets are committed by hand after processing: at-least-once.
        return {
            **self.client_kwargs(),
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
        }

    def ssl_context(self) -> ssl.SSLContext:
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile)

    # -------------------------------------------------------------------------------------- Faust arguments

    def faust_kwargs(self) -> dict[str, Any]:
        """Broker arguments for ``faust.App``."""
        import faust

        kwargs: dict[str, Any] = {
            "broker": ";".join(f"kafka://{server.strip()}" for server in self.bootstrap_servers.split(",")),
            "producer_acks": -1 if self.acks == "all" else int(self.acks),
            "producer_compression_type": None if self.compression == "none" else self.compression,
            "producer_linger_ms": self.linger_ms,
        }
        if self.security_protocol.startswith("SASL"):
            kwargs["broker_credentials"] = faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                mechanism=self.sasl_mechanism,
                ssl_context=self.ssl_context() if self.security_protocol == "SASL_SSL" else None,
            )
        elif self.security_protocol == "SSL":
            kwargs["broker_credentials"] = faust.SSLCredentials(self.ssl_context())
        return kwargs
