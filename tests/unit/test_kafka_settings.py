from __future__ import annotations

import pytest

from pioneer.errors import ConfigError
from streams.kafka import KafkaSettings


def test_flag_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIONEER_BROKER", "env-host:9092")
    assert KafkaSettings.from_env().bootstrap_servers == "env-host:9092"
    assert KafkaSettings.from_env("flag-host:9093").bootstrap_servers == "flag-host:9093"


def test_production_settings_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIONEER_KAFKA_SECURITY", "SASL_PLAINTEXT")
    monkeypatch.setenv("PIONEER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("PIONEER_KAFKA_SASL_USERNAME", "pioneer")
    monkeypatch.setenv("PIONEER_KAFKA_SASL_PASSWORD", "secret")
    monkeypatch.setenv("PIONEER_KAFKA_ACKS", "1")
    monkeypatch.setenv("PIONEER_KAFKA_COMPRESSION", "lz4")
    settings = KafkaSettings.from_env("a:1,b:2")
    producer = settings.producer_kwargs()
    assert producer["sasl_mechanism"] == "SCRAM-SHA-512" and producer["sasl_plain_username"] == "pioneer"
    assert producer["acks"] == 1 and producer["compression_type"] == "lz4"
    assert settings.faust_kwargs()["broker"] == "kafka://a:1;kafka://b:2"


@pytest.mark.parametrize(
    "overrides",
    [
        {"security_protocol": "TLS"},
        {"security_protocol": "SASL_SSL"},  # no mechanism or credentials
        {"acks": "2"},
        {"compression": "brotli"},
        {"bootstrap_servers": " "},
    ],
)
def test_invalid_settings_are_refused_with_the_variable_named(overrides: dict) -> None:
    with pytest.raises(ConfigError):
        KafkaSettings(**overrides)


def test_prefixed_topics() -> None:
    settings = KafkaSettings(topic_prefix="staging.")
    assert settings.topic("label") == "staging.labels"
