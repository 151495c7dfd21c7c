"""The S3 registry against a real S3-compatible server (S3Proxy, or the one ``PIONEER_TEST_S3`` names).

- versions round-trip (manifest, evaluations, datasets, requests), are idempotent by content, and a version
  whose upload died before its version object is invisible;
- a load verifies the manifest's hashes: a blob changed in the store is refused, a damaged cached copy is
  fetched again, and a second load is a cache hit;
- writers racing on one alias from separate "hosts" (own client, own cache) never lose or interleave a move;
- a store that ignores ``If-None-Match`` is refused before any alias moves;
- two homes with no shared directory: a trainer releases to the bucket, a server on the other home hot-swaps
  to it over Apache Kafka, and a rollback swaps back from the server's cache.

``PIONEER_TEST_S3=http://host:port`` uses a running server (credentials from ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, bucket ``PIONEER_TEST_S3_BUCKET``, default ``pioneer``); without it the session
starts S3Proxy with the installed Java, or skips saying why it could not.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from pioneer.events import GateReport
from pioneer.registry import (
    ANY_VERSION,
    RegistryError,
    S3Registry,
    StoredEvaluation,
    VersionCache,
    VersionInfo,
    open_registry,
    rollback,
)
from tests.unit.registry.tiny_centroid import TRAIN, CentroidClassifier

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The AWS variables and bucket of a real S3-compatible server."""
    endpoint = os.environ.get("PIONEER_TEST_S3")
    if endpoint:
        env = {"AWS_ENDPOINT_URL": endpoint,
               "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "pioneer"),
               "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "pioneer-secret"),
               "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1")}
        bucket = os.environ.get("PIONEER_TEST_S3_BUCKET", "pioneer")
        _ensure_bucket(env, bucket)
        yield {**env, "bucket": bucket}
        return
    from pioneer.registry.s3proxy import S3ProxyError, S3ProxyServer
    from pioneer.settings import Paths

    server = S3ProxyServer(data_dir=tmp_path_factory.mktemp("s3proxy"), cache_dir=Paths.from_env().cache)
    try:
        server.start()
    except S3ProxyError as exc:
        pytest.skip(f"no S3-compatible server: S3Proxy could not start ({exc}); set PIONEER_TEST_S3 to use one")
    try:
        yield {**server.environment(), "bucket": server.buckets[0]}
    finally:
        server.stop()


def _ensure_bucket(env: dict[str, str], bucket: str) -> None:
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


@pytest.fixture
def s3_env(s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in s3_server.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def url(s3_env: dict[str, str]) -> str:
    """A fresh prefix: each test sees an empty registry."""
    return f"s3://{s3_env['bucket']}/tests/{uuid.uuid4().hex[:12]}"


def host(url: str, home: Path) -> S3Registry:
    """What one host holds: its own client and its own cache directory."""
    return S3Registry(url, cache=VersionCache(home / "cache"), loader=CentroidClassifier.load)


def blessed() -> VersionInfo:
    return VersionInfo(gate_report=GateReport(passed=True, baseline_version=None, checks=[], notes=[]), mode="train")


def register(registry: S3Registry, n: int) -> str:
    return registry.register_version("intents", CentroidClassifier().fit(TRAIN[: n + 2]), blessed()).version


# ---------------------------------------------------------------------------------------------------- versions


def test_versions_round_trip_and_are_idempotent_by_content(url: str, tmp_path: Path) -> None:
    registry = host(url, tmp_path)
    dataset = registry.put_dataset("intents", TRAIN)
    evaluation = CentroidClassifier().fit(TRAIN).evaluate(TRAIN)
    stored = StoredEvaluation(dataset=dataset, metric_name="accuracy", metric=evaluation.metric,
                              ids=evaluation.ids, correct=evaluation.correct)
    first = registry.register_version("intents", CentroidClassifier().fit(TRAIN),
                                      VersionInfo(training_data=dataset, eval_sets={"gate": dataset}),
                                      evaluations={"gate": stored})
    again = host(url, tmp_path / "other").register_version("intents", CentroidClassifier().fit(TRAIN), blessed())
    assert again.version == first.version and again.created == first.created  # nothing rewritten
    assert first.files.keys() == {"config.json", "model.safetensors"}

    reader = host(url, tmp_path / "reader")
    assert reader.list_models() == ["intents"]
    assert [m.version for m in reader.list_versions("intents")] == [first.version]
    assert reader.get_manifest("intents", first.version).training_data == dataset
    assert reader.get_dataset("intents", dataset) == TRAIN
    assert reader.get_evaluation("intents", first.version, "gate").correct_by_id() == evaluation.correct_by_id()
    assert reader.get_evaluation("intents", first.version, "nothing") is None
    loaded = reader.load_adapter("intents", first.version)
    assert [o.label for o in loaded.predict(["what is my balance"])] == ["balance"]
    reader.load_adapter("intents", first.version)
    assert (reader.cache.misses, reader.cache.hits) == (1, 1)

    reader.put_request("intents", "req/with odd chars", {"decision": "released"})
    assert registry.get_request("intents", "req/with odd chars") == {"decision": "released"}
    assert registry.get_request("intents", "never") is None
    for missing in (lambda: reader.get_manifest("intents", "sha256-0123456789abcdef"),
                    lambda: reader.get_dataset("intents", "sha256-0123456789abcdef")):
        with pytest.raises(RegistryError) as info:
            missing()
        assert info.value.code == "RESOURCE_DOES_NOT_EXIST"


def test_an_upload_that_dies_before_its_version_object_leaves_nothing_visible(url: str, tmp_path: Path,
                                                                              monkeypatch) -> None:
    registry = host(url, tmp_path)
    real_create = registry._create

    def dies_on_the_version(key: str, body: bytes) -> bool:
        if "/versions/" in key:
            raise RegistryError("connection lost", "STORAGE_ERROR")
        return real_create(key, body)

    monkeypatch.setattr(registry, "_create", dies_on_the_version)
    with pytest.raises(RegistryError, match="connection lost"):
        register(registry, 2)
    reader = host(url, tmp_path / "reader")
    assert reader.list_versions("intents") == [] and reader.list_models() == []
    monkeypatch.undo()
    version = register(registry, 2)  # the retry reuses the blobs already sent
    assert [m.version for m in reader.list_versions("intents")] == [version]


def test_a_blob_changed_or_lost_in_the_store_is_refused_and_a_damaged_cache_copy_refetched(url: str, tmp_path: Path) -> None:
    registry = host(url, tmp_path)
    manifest = registry.register_version("intents", CentroidClassifier().fit(TRAIN), blessed())
    path = registry.version_path("intents", manifest.version)
    (path / "config.json").write_text('{"labels": ["x"]}')
    assert registry.load_adapter("intents", manifest.version).labels_ == ["balance", "transfer"]
    assert registry.cache.misses == 2

    blob = f"{registry.prefix}intents/blobs/{manifest.files['model.safetensors']}"
    registry.client.put_object(Bucket=registry.bucket, Key=blob, Body=b"not the weights")
    with pytest.raises(RegistryError, match=r"model\.safetensors.*refusing") as info:
        host(url, tmp_path / "other").load_adapter("intents", manifest.version)
    assert info.value.code == "INVALID_STATE"
    registry.client.delete_object(Bucket=registry.bucket, Key=blob)
    with pytest.raises(RegistryError, match=r"model\.safetensors is missing from the store") as info:
        host(url, tmp_path / "third").load_adapter("intents", manifest.version)
    assert info.value.code == "INVALID_STATE"


# ---------------------------------------------------------------------------------------------------- aliases


def test_aliases_history_compare_and_set_and_stack_rollback(url: str, tmp_path: Path) -> None:
    registry = host(url, tmp_path)
    v = [register(registry, n) for n in range(3)]
    registry.move_alias("intents", "production", v[0], kind="release", expected_from=None)
    with pytest.raises(RegistryError) as info:
        registry.move_alias("intents", "production", v[1], expected_from=None)
    assert info.value.code == "INVALID_STATE"
    first = registry.move_alias("intents", "production", v[1], kind="release", request_id="rr-1", expected_from=v[0])
    assert registry.move_alias("intents", "production", v[1], request_id="rr-1", expected_from=v[0]) == first
    registry.move_alias("intents", "production", v[2], kind="release")
    registry.move_alias("intents", "candidate", v[2])

    other = host(url, tmp_path / "other")  # another host reads the same view from the log
    assert other.list_aliases("intents") == {"candidate": v[2], "production": v[2]}
    assert rollback(other, "intents").alias.to_version == v[1]
    assert rollback(registry, "intents").alias.to_version == v[0]
    assert [(r.seq, r.kind, r.to_version) for r in other.alias_history("intents", "production")] == [
        (0, "release", v[0]), (1, "release", v[1]), (2, "release", v[2]), (4, "rollback", v[1]), (5, "rollback", v[0]),
    ]


def test_writers_racing_from_two_hosts_never_lose_or_interleave_a_move(url: str, tmp_path: Path) -> None:
    setup = host(url, tmp_path / "setup")
    versions = [register(setup, n) for n in range(3)]
    setup.move_alias("intents", "production", versions[0], kind="release")
    writers = [host(url, tmp_path / f"host-{i}") for i in range(2)]
    moves, refused = 12, [0, 0]
    start = threading.Barrier(len(writers))
    errors: list[BaseException] = []

    def trainer(i: int) -> None:
        """Release ``moves`` times, each a compare-and-set from what this trainer read."""
        registry = writers[i]
        start.wait()
        try:
            for n in range(moves):
                while True:
                    current = registry.get_alias("intents", "production")
                    target = versions[(versions.index(current) + 1 + i) % len(versions)]
                    try:
                        registry.move_alias("intents", "production", target, kind="release",
                                            request_id=f"w{i}-{n}", expected_from=current)
                        break
                    except RegistryError as exc:
                        assert exc.code == "INVALID_STATE", exc
                        refused[i] += 1
                # and a move that asks nothing of the current state, which must still take a slot of its own
                registry.move_alias("intents", "candidate", target, request_id=f"w{i}-c{n}", expected_from=ANY_VERSION)
        except BaseException as exc:  # noqa: BLE001 - surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=trainer, args=(i,)) for i in range(len(writers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors

    history = host(url, tmp_path / "auditor").alias_history("intents")
    assert [r.seq for r in history] == list(range(1 + 2 * moves * len(writers)))
    ids = [r.request_id for r in history[1:]]
    assert sorted(ids) == sorted(f"w{i}-{p}{n}" for i in range(2) for n in range(moves) for p in ("", "c"))
    for alias in ("production", "candidate"):
        chain = [r for r in history if r.alias == alias]
        for before, after in itertools.pairwise(chain):
            assert after.from_version == before.to_version, (before, after)  # each move saw the one before it
    contention = sum(refused) + sum(w.lost_slots for w in writers)
    print(f"\n{len(history)} moves; compare-and-set refused {refused}, log slots lost {[w.lost_slots for w in writers]}")
    assert contention > 0, "the two writers never collided: the race was not exercised"


def test_the_same_request_from_two_hosts_moves_once(url: str, tmp_path: Path) -> None:
    setup = host(url, tmp_path / "setup")
    version = register(setup, 1)
    writers = [host(url, tmp_path / f"host-{i}") for i in range(2)]
    for w in writers:
        w.get_manifest("intents", version)
    start = threading.Barrier(2)
    results: list[Any] = []

    def move(w: S3Registry) -> None:
        start.wait()
        results.append(w.move_alias("intents", "production", version, kind="release", request_id="rr-same"))

    threads = [threading.Thread(target=move, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    assert len(setup.alias_history("intents")) == 1


class IgnoresConditions:
    """A client that drops If-None-Match, as a store without conditional writes would ignore it."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def put_object(self, **kwargs: Any) -> Any:
        kwargs.pop("IfNoneMatch", None)
        return self._client.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_store_without_conditional_writes_is_refused_before_an_alias_moves(url: str, tmp_path: Path) -> None:
    registry = host(url, tmp_path)
    version = register(registry, 1)
    registry.client = IgnoresConditions(registry.client)
    with pytest.raises(RegistryError, match="If-None-Match") as info:
        registry.move_alias("intents", "production", version)
    assert info.value.code == "STORAGE_ERROR" and registry.alias_history("intents") == []


# ---------------------------------------------------------------------------------------------------- wiring


def test_the_cli_and_the_factory_open_a_bucket_by_url(url: str, tmp_path: Path, monkeypatch) -> None:
    from pioneer.cli import cli

    monkeypatch.setenv("PIONEER_HOME", str(tmp_path / "home"))
    registry = host(url, tmp_path)
    version = register(registry, 1)
    registry.move_alias("intents", "production", version, kind="release")
    assert isinstance(open_registry(url), S3Registry)
    result = CliRunner().invoke(cli, ["registry", "list", "intents", "--registry", url], catch_exceptions=False)
    assert result.exit_code == 0 and version in result.stdout and "production" in result.stdout
    monkeypatch.setenv("PIONEER_REGISTRY", url)
    assert CliRunner().invoke(cli, ["registry", "list"], catch_exceptions=False).stdout.split()[0] == "intents"


# ---------------------------------------------------------------------------------------------------- two homes


@pytest.mark.kafka
@pytest.mark.slow
async def test_two_homes_release_hot_swap_and_rollback_over_kafka(url: str, kafka_settings, tmp_path: Path) -> None:
    """A trainer and a server with separate PIONEER_HOMEs share only the bucket and the broker."""
    from streams.brokers import free_port
    from streams.serving import (
        BackgroundServer,
        ServeConfig,
        ServingRuntime,
        create_app,
    )
    from tests.integration.test_serving import _publish, _release
    from tests.unit.serving.tiny_models import register_classifiers

    trainer = S3Registry(url, cache=VersionCache(tmp_path / "trainer-home" / "cache"))
    v1, v2 = register_classifiers(trainer)
    serving = S3Registry(url, cache=VersionCache(tmp_path / "server-home" / "cache"))
    runtime = ServingRuntime(ServeConfig(model="intents", spill_dir=tmp_path / "server-home" / "spill"),
                             registry=serving, kafka=kafka_settings)
    server = BackgroundServer(create_app(runtime), port=free_port()).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            async def serves(version: str) -> float:
                started = time.monotonic()
                while True:
                    response = await client.post("/v1/predict", json={"text": "play some jazz"})
                    if response.status_code == 200 and response.headers.get("x-model-version") == version:
                        return time.monotonic() - started
                    assert time.monotonic() - started < 90, f"{version} never served"
                    await asyncio.sleep(0.05)

            await serves(v1)
            trainer.move_alias("intents", "production", v2, kind="release", reason="retrained")
            await _publish(kafka_settings, _release("intents", v2, v1))
            release_s = await serves(v2)
            event = rollback(trainer, "intents", reason="complaints")
            await _publish(kafka_settings, event)
            rollback_s = await serves(v1)
    finally:
        server.stop()
    print(f"\nrelease served {release_s * 1000:.0f} ms after publishing; rollback {rollback_s * 1000:.0f} ms")
    assert serving.get_alias("intents", "production") == v1
    assert serving.cache.misses == 2  # each version downloaded once (the rollback was still in memory)
    restarted = S3Registry(url, cache=VersionCache(tmp_path / "server-home" / "cache"))
    restarted.load_adapter("intents", v1)  # a restart on the server's home loads from its disk
    assert (restarted.cache.hits, restarted.cache.misses) == (1, 0)
