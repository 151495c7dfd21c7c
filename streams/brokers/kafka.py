"""The reference engine: Apache Kafka in KRaft single-node mode, from jars that Maven fetches from Maven
Central (cached after the first time), run with the installed Java. Its data lives in a directory that
survives restarts: topics, offsets and records are still there after a stop and start."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from streams.brokers.base import BrokerError, LocalBroker

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
POM = HERE / "kafka-pom.xml"
LOG4J_CONFIG = HERE / "kafka-log4j2.properties"


def kafka_version() -> str:
    """The Kafka version the Maven manifest names."""
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    assert match, f"no kafka.version in {POM}"
    return match.group(1)


def fetch_kafka_jars(cache_dir: Path) -> Path:
    """Download the broker's jars once into ``cache_dir/kafka-<version>/lib``; returns that directory.

    The download goes to a temporary directory renamed into place, so an interrupted fetch never leaves a
    half-filled cache that a later start would trust.
    """
    lib = cache_dir / f"kafka-{kafka_version()}" / "lib"
    if (lib / ".complete").exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("the kafka engine needs Maven (mvn) on PATH to fetch Kafka's jars the first time")
    lib.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="lib-", dir=lib.parent))
    log.info("fetching Apache Kafka %s jars from Maven Central into %s", kafka_version(), lib)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BrokerError(f"mvn could not fetch Kafka's jars:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    (staging / ".complete").touch()
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    return lib


class ApacheKafkaBroker(LocalBroker):
    """Apache Kafka, KRaft mode, one node acting as broker and controller.

    Parameters
    ----------
    data_dir
        Where the log segments and KRaft metadata live; reused across restarts.
    cache_dir
        Where Kafka's jars are cached.
    controller_port
        The KRaft controller listener (default: ``port + 1``).
    heap
        JVM heap (``-Xmx``); Kafka runs comfortably in 512 MiB for development.
    """

    engine = "kafka"

    def __init__(
        self,
        *,
        data_dir: Path,
        cache_dir: Path,
        host: str = "127.0.0.1",
        port: int = 9092,
        controller_port: int | None = None,
        heap: str = "512m",
        log_file: Path | None = None,
    ) -> None:
        super().__init__(host=host, port=port, log_file=log_file or Path(data_dir) / "broker.log")
        self.data_dir = Path(data_dir)
        self.cache_dir = Path(cache_dir)
        self.controller_port = controller_port or port + 1
        self.heap = heap
        self._lib: Path | None = None

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "kraft-logs"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    def prepare(self) -> None:
        if shutil.which("java") is None:
            raise BrokerError("the kafka engine needs Java 17+ on PATH")
        self._lib = fetch_kafka_jars(self.cache_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._server_properties())
        if not (self.log_dir / "meta.properties").exists():
            self._format_storage()

    def _server_properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{self.host}:{self.controller_port}",
                f"listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.log_dir}",
                # A single node: internal topics cannot be replicated.
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                # Development: rebalance at once, and let tests see compaction within seconds.
                "group.initial.rebalance.delay.ms=0",
                "log.cleaner.backoff.ms=1000",
                "num.partitions=1",
                "auto.create.topics.enable=true",
                "",
            ]
        )

    def _java(self, main_class: str, *args: str) -> list[str]:
        assert self._lib is not None
        return [
            "java",
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1" if main_class != "kafka.Kafka" else "-XX:+UseStringDeduplication",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            f"{self._lib}/*",
            main_class,
            *args,
        ]

    def _format_storage(self) -> None:
        cluster_id = uuid.uuid4().bytes.hex()[:22]
        result = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config_file)),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BrokerError(f"formatting Kafka storage in {self.log_dir} failed:\n{result.stdout}{result.stderr}")

    def command(self) -> list[str]:
        return self._java("kafka.Kafka", str(self.config_file))

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("KAFKA_OPTS", None)
        return env
