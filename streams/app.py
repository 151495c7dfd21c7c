"""Building the Faust app of a Pioneer worker, and running it. Holds no agents, topics or logic: each
worker (monitor, trainer) wires its own stages onto the app this module builds."""

from __future__ import annotations

from pathlib import Path

import faust

from streams.kafka import KafkaSettings


def create_app(settings: KafkaSettings, *, app_id: str, datadir: Path, partitions: int = 4) -> faust.App:
    """A Faust app for ``settings``' cluster.

    Tables live in memory (``memory://``) and are rebuilt from their changelogs at start: state stays in
    Kafka, so any worker of the group can take a partition over. Replication follows the settings
    (``PIONEER_REPLICATION``: 1 for a single broker, 3 on a real cluster).
    """
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        app_id,
        **settings.faust_kwargs(),
        store="memory://",
        datadir=str(datadir),
        autodiscover=False,
        web_enabled=False,
        topic_partitions=partitions,
        topic_replication_factor=settings.replication,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=4096,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        # A killed worker's partitions move to its peers once its session lapses (heartbeats well inside it).
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 4),
        # Do not wait at shutdown for events still held (a request in training, traces awaiting a checkpoint):
        # they are redelivered to whoever owns the partition next, and every stage is idempotent.
        stream_wait_empty=False,
        # Idempotence needs InitProducerId, which the embedded broker lacks; delivery is at-least-once and
        # consumers deduplicate by event id.
        producer_max_request_size=16 * 1024 * 1024,
    )


def run_worker(app: faust.App, loglevel: str = "WARNING") -> None:
    """Run ``app`` until SIGINT/SIGTERM, keeping Pioneer's own log format."""
    from faust.worker import Worker

    worker = Worker(
        app,
        quiet=True,
        loglevel=loglevel,
        override_logging=False,
        redirect_stdouts=False,
        console_port=0,
    )
    worker.spinner = None  # it writes terminal escape codes into otherwise line-oriented (JSON) output
    worker.execute_from_commandline()
