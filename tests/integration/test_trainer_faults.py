"""``pioneer trainer`` as it runs in production, under faults, on Apache Kafka.

Labeled traces and an error pattern (with its members) go in, then a retrain request, served by a chain of real
trainer processes, each stopped at the next step: killed (SIGKILL) as it starts training, its disk full while it
registers a version, then killed at a failpoint once the candidate is a version, once the decision is recorded,
between training and publishing, after publishing. After each stop the registry and the topics hold what that
step leaves, and the next process serves the request from there; the last one: one release that fixed the blind
spot, the alias moved once, nothing published twice. Apart, a poison request dead-lettered while the worker goes
on."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pioneer.events import (
    Budget,
    DeadLetter,
    EventCodec,
    ModelRef,
    ModelRelease,
    ReleaseRejection,
    RetrainRequest,
    TrainingProgress,
)
from pioneer.registry import FileRegistry
from streams.kafka import KafkaSettings
from tests.integration.helpers import read_all, stop_process, wait_for
from tests.integration.trainer_scenario import (
    MODEL,
    first_model,
    loop_events,
    publish,
    read,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, str]:
    """A home with the first version in production, trained once for the module (each test gets a copy)."""
    home = tmp_path_factory.mktemp("first")
    task, version = first_model(home)
    return home, task, version


def _home(trained: tuple[Path, object, str], tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(trained[0], home)
    return home


def _start(settings: KafkaSettings, home: Path, log_name: str, faults: str = "", catch_up: float = 5) -> subprocess.Popen:
    """A trainer process; ``catch_up`` is how long it waits for traces to reach a request's time before serving it
    (a successor inherits its predecessors' trace store, filled before the first one trained: it waits for none)."""
    env = dict(os.environ, PIONEER_HOME=str(home), PIONEER_BROKER=settings.bootstrap_servers,
               PIONEER_TOPIC_PREFIX=settings.topic_prefix, HF_HUB_OFFLINE="1", PIONEER_FAULTS=faults,
               # the killed trainer's partition reaches its successor once its session lapses: 10 s, not 60
               PIONEER_KAFKA_SESSION_TIMEOUT="10")
    with open(home / log_name, "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "pioneer", "--log-format", "json", "trainer", "--catch-up-timeout", str(catch_up)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _ended(process: subprocess.Popen, timeout: float, what: str) -> int:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the trainer did not end {what} within {timeout:.0f} s") from None


def _answers(settings: KafkaSettings) -> tuple[list[ModelRelease], list[ReleaseRejection]]:
    """Every release and rejection published so far (both topics read at once, each to its timeout)."""
    async def both() -> list:
        return await asyncio.gather(*(read_all(settings, settings.topic(t), 10**6, 3)
                                      for t in ("model_release", "release_rejection")))

    codec = EventCodec()
    releases, rejections = asyncio.run(both())
    return ([codec.decode(r.value, expected=ModelRelease) for r in releases],
            [codec.decode(r.value, expected=ReleaseRejection) for r in rejections])


def _served_once_by_a_successor(settings: KafkaSettings, home: Path, request: RetrainRequest, first: str,
                                log_name: str) -> None:
    """Start a successor; it serves ``request`` to one release, published once, the alias moved once."""
    successor = _start(settings, home, log_name, catch_up=0)
    try:
        wait_for(lambda: read(settings, "model_release", ModelRelease, expected=1), 240, "a release", every=2)
        # let the successor's offsets commit and anything further it would send arrive
        wait_for(lambda: _served(home / log_name), 60, "the request served", every=1)
        releases, rejections = _answers(settings)
    finally:
        stop_process(successor)
    assert len(releases) == 1 and not rejections, (releases, rejections)  # records, not ids: nothing sent twice
    (release,) = releases
    assert release.request_id == request.request_id and release.parent_version == first
    assert release.alias.from_version == first and release.gate_report.passed
    registry = FileRegistry(home / "registry")
    assert registry.get_alias(MODEL, "production") == release.model.version
    assert [m.to_version for m in registry.alias_history(MODEL, "production")] == [first, release.model.version]
    assert registry.get_request(MODEL, request.request_id)["state"] == "published"


def _served(log: Path) -> bool:
    text = log.read_text()
    return "retrain request served" in text or "retrain request already published" in text


TRAINING = "trainer.progress.training"
DISK_FULL = "trainer.progress.releasing=1:disk_full"
STOPS = {
    # fault: (the request's record, production moved, releases published, versions registered) once it stopped
    TRAINING: (None, False, 0, 1),  # killed as training starts: nothing acknowledged, so the request comes back
    DISK_FULL: (None, False, 0, 1),  # gated; the disk fills as the candidate is about to be registered
    "trainer.version_registered": (None, False, 0, 2),  # the candidate is a version; nothing says what was decided
    "trainer.decided": ("decided", False, 0, 2),  # recorded, the alias not moved
    "trainer.trained": ("applied", True, 0, 2),  # decided and applied, nothing of it published
    "trainer.published": ("published", True, 1, 2),  # published and recorded so, the request not acknowledged
}
"""Each trainer of the chain stops at the next fault and its successor serves the same request from what it left,
so every stop is exercised on the request's one way through, and each is checked by what it leaves behind."""


def _after_stop(fault: str, settings: KafkaSettings, home: Path, request_id: str, first: str) -> None:
    """What the registry and the topics hold after the trainer stopped at ``fault``, so each stop is where it says."""
    registry = FileRegistry(home / "registry")
    record = registry.get_request(MODEL, request_id)
    releases, rejections = _answers(settings)
    found = (None if record is None else record["state"], registry.get_alias(MODEL, "production") != first,
             len(releases), len(registry.list_versions(MODEL)))
    assert found == STOPS[fault] and not rejections, (fault, found, rejections)


def test_a_retrain_request_becomes_one_release_across_a_trainer_stopped_at_each_step(
    trained: tuple[Path, object, str], kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """One request, a chain of trainers: each is stopped at the next step (the disk-full one stops itself, the
    others are SIGKILLed), the last serves what the previous left."""
    home, (_, task, first) = _home(trained, tmp_path), trained
    inputs, request = loop_events(task, first)
    asyncio.run(publish(kafka_settings, inputs))
    for n, fault in enumerate(STOPS, 1):
        trainer = _start(kafka_settings, home, f"trainer-{n}.log", faults=fault, catch_up=5 if n == 1 else 0)
        try:
            if n == 1:
                asyncio.run(publish(kafka_settings, [request]))  # the request comes to a running trainer
            code = _ended(trainer, 240, f"at {fault}")
        finally:
            stop_process(trainer)
        _after_stop(fault, kafka_settings, home, request.request_id, first)
        if fault == DISK_FULL:
            # an outage stops the trainer without answering the request: not acknowledged, never "failed"
            assert code != -signal.SIGKILL, code
            stages = [p.stage for p in read(kafka_settings, "training_progress", TrainingProgress)]
            assert "failed" not in stages and "releasing" in stages, stages
        else:
            assert code == -signal.SIGKILL, (fault, code)
    _served_once_by_a_successor(kafka_settings, home, request, first, f"trainer-{len(STOPS) + 1}.log")
    stages = [p.stage for p in read(kafka_settings, "training_progress", TrainingProgress)]
    assert "failed" not in stages and {"diagnosing", "training", "gating", "released"} <= set(stages), stages
    # the released version fixed the blind spot on held-out requests and kept the usual ones
    registry = FileRegistry(home / "registry")
    released = registry.load_adapter(MODEL, registry.get_alias(MODEL, "production"))
    before = registry.load_adapter(MODEL, first)
    blind = task.blind_spot(100, stream="heldout")
    assert released.evaluate(blind).metric > before.evaluate(blind).metric + 0.1
    usual = task.evaluation_set(5)
    assert released.evaluate(usual).metric >= before.evaluate(usual).metric - 0.02


def _request(request_id: str, model: str, mode: str) -> RetrainRequest:
    return RetrainRequest(
        event_id=request_id, timestamp=0.0, request_id=request_id, model=ModelRef(name=model, version="sha256-000000000001"),
        patterns=[], reason="test", budget=Budget(max_iterations=1, max_candidates=1), mode=mode, requested_by="test",
    )


def test_a_request_whose_serving_raises_is_dead_lettered_and_the_trainer_goes_on(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    # The naive baseline raises for a model without a production version; the Pioneer loop answers "failed".
    poison, after = _request("rr-poison", "nosuch", "naive"), _request("rr-after", "nosuch", "pioneer")
    trainer = _start(kafka_settings, tmp_path, "trainer.log")
    try:
        asyncio.run(publish(kafka_settings, [poison, after]))
        wait_for(lambda: any(p.request_id == after.request_id and p.stage == "failed"
                             for p in read(kafka_settings, "training_progress", TrainingProgress)),
                 120, "the next request served", every=1)
        assert trainer.poll() is None
    finally:
        stop_process(trainer)
    codec = EventCodec()
    records = asyncio.run(read_all(kafka_settings, kafka_settings.topic("dead_letter"), 1, timeout=5))
    letters = [codec.decode(r.value, expected=DeadLetter) for r in records]
    assert [(d.error, d.source.topic) for d in letters] == [("processing", kafka_settings.topic("retrain_request"))]
    assert "ValueError" in letters[0].reason and "nosuch" in letters[0].reason
    assert codec.decode(base64.b64decode(letters[0].payload_b64), expected=RetrainRequest) == poison
