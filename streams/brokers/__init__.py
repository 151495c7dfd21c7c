"""Local brokers speaking the Kafka protocol: Apache Kafka (the reference) and Tansu (the embedded default)."""

from streams.brokers.base import BrokerError, LocalBroker
from streams.brokers.kafka import ApacheKafkaBroker, fetch_kafka_jars, kafka_version
from streams.brokers.ports import free_port
from streams.brokers.tansu import TansuBroker

ENGINES = ("tansu", "kafka")

__all__ = [
    "ENGINES",
    "ApacheKafkaBroker",
    "BrokerError",
    "LocalBroker",
    "TansuBroker",
    "fetch_kafka_jars",
    "free_port",
    "kafka_version",
]
