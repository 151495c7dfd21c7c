"""Registry on object storage: upload and download time of real adapters, the cache hit, and a swap's cost.

For a MiniLM classification head and a SmolLM2-135M LoRA adapter (both trained here, tiny data; what is timed
is storage, not learning) it reports, per adapter, the median of ``--repeats`` runs of:

  upload       ``register_version`` to a fresh prefix (save, hash, send the blobs, write the version object last)
  download     ``version_path`` on a host with an empty cache (fetch every blob, check its sha256, rename in)
  cache hit    ``version_path`` again on that host (every file re-hashed against the manifest, nothing fetched)
  load (hit)   ``load_adapter`` from the warm cache, the adapter built and ready (what a hot swap waits on)
  file load    ``FileRegistry.load_adapter`` of the same adapter on local disk (the floor a bucket can reach)
  alias seen   from ``move_alias`` on the trainer's host to the serving host's ``get_alias`` returning it

and, last, how the store's two conditional writes hold under a race (4 writers, 25 increments each, each a
read then a conditional put, retried on 412): a counter kept with ``If-Match: <etag>`` (compare-and-swap on
one object) and a log kept with ``If-None-Match: *`` (create-only slots, what the registry's alias moves use).
A store that applies the condition atomically loses nothing in either.

It starts S3Proxy with the installed Java (loopback: the network's share of a cloud bucket is not in these
figures), or uses the bucket the environment names:

    python scripts/bench_registry_s3.py
    AWS_PROFILE=... python scripts/bench_registry_s3.py --url s3://my-bucket/pioneer-bench
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench(name: str, adapter, base_url: str, work: Path, repeats: int) -> dict[str, float]:
    from pioneer.registry import FileRegistry, S3Registry, VersionCache, VersionInfo

    info = VersionInfo(mode="train")
    uploads, downloads, hits, loads = [], [], [], []
    for n in range(repeats):
        url = f"{base_url}/{uuid.uuid4().hex[:8]}"
        trainer = S3Registry(url, cache=VersionCache(work / f"{name}-{n}-trainer"))
        started = time.perf_counter()
        version = trainer.register_version("bench", adapter, info).version
        uploads.append(time.perf_counter() - started)
        server = S3Registry(url, cache=VersionCache(work / f"{name}-{n}-server"))
        server.get_manifest("bench", version)  # the manifest read is part of the swap below, not of the download
        started = time.perf_counter()
        path = server.version_path("bench", version)
        downloads.append(time.perf_counter() - started)
        started = time.perf_counter()
        server.version_path("bench", version)
        hits.append(time.perf_counter() - started)
        started = time.perf_counter()
        server.load_adapter("bench", version)
        loads.append(time.perf_counter() - started)
        assert server.cache.misses == 1, "the cache fetched twice"
    local = FileRegistry(work / f"{name}-file")
    local_version = local.register_version("bench", adapter, info).version
    file_ms = _median_ms(lambda: local.load_adapter("bench", local_version), repeats)
    return {"bytes": _bytes(path), "upload": statistics.median(uploads) * 1000,
            "download": statistics.median(downloads) * 1000, "hit": statistics.median(hits) * 1000,
            "load": statistics.median(loads) * 1000, "file": file_ms}


def alias_seen_ms(base_url: str, adapter, work: Path, repeats: int) -> float:
    from pioneer.registry import S3Registry, VersionCache, VersionInfo

    url = f"{base_url}/{uuid.uuid4().hex[:8]}"
    trainer = S3Registry(url, cache=VersionCache(work / "alias-trainer"))
    server = S3Registry(url, cache=VersionCache(work / "alias-server"))
    version = trainer.register_version("bench", adapter, VersionInfo(mode="train")).version
    trainer.move_alias("bench", "production", version)
    server.get_alias("bench", "production")
    times = []
    for n in range(repeats):
        started = time.perf_counter()
        trainer.move_alias("bench", "production", version, reason=f"bench {n}")
        while server.alias_history("bench")[-1].reason != f"bench {n}":
            pass
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def conditional_write_race(bucket: str, prefix: str, writers: int = 4, each: int = 25) -> tuple[int, int]:
    """Increments lost by an If-Match counter and by an If-None-Match log, ``writers`` threads racing."""
    import threading

    from botocore.exceptions import ClientError

    from pioneer.registry.s3 import s3_client

    counter = f"{prefix}race/counter"
    s3_client().put_object(Bucket=bucket, Key=counter, Body=b"0")

    def by_etag() -> None:
        client, done = s3_client(), 0
        while done < each:
            got = client.get_object(Bucket=bucket, Key=counter)
            value = int(got["Body"].read())
            try:
                client.put_object(Bucket=bucket, Key=counter, Body=str(value + 1).encode(), IfMatch=got["ETag"])
                done += 1
            except ClientError:
                pass

    def by_slot(lost_slots: list[int]) -> None:
        client, done = s3_client(), 0
        while done < each:
            listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}race/log/").get("KeyCount", 0)
            try:
                client.put_object(Bucket=bucket, Key=f"{prefix}race/log/{listed:08d}", Body=b"1", IfNoneMatch="*")
                done += 1
            except ClientError:
                lost_slots.append(1)

    for target, args in ((by_etag, ()), (by_slot, ([],))):
        threads = [threading.Thread(target=target, args=args) for _ in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    client = s3_client()
    etag_lost = writers * each - int(client.get_object(Bucket=bucket, Key=counter)["Body"].read())
    slot_lost = writers * each - client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}race/log/")["KeyCount"]
    return etag_lost, slot_lost


def report_race(base_url: str) -> None:
    from pioneer.registry.s3 import parse_s3_url

    bucket, prefix = parse_s3_url(f"{base_url}/{uuid.uuid4().hex[:8]}")
    etag_lost, slot_lost = conditional_write_race(bucket, prefix)
    print(f"race of 4 writers x 25 conditional increments: If-Match counter lost {etag_lost}, "
          f"If-None-Match log lost {slot_lost} (of 100)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="s3://bucket/prefix (default: a local S3Proxy)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-lora", action="store_true")
    parser.add_argument("--race-only", action="store_true", help="only the conditional-write race")
    args = parser.parse_args()

    from pioneer.registry.s3proxy import S3ProxyServer
    from pioneer.settings import Paths
    from tests.unit.serving.tiny_models import classifiers, generator

    work = Path(tempfile.mkdtemp(prefix="bench-registry-s3-"))
    server = None
    if args.url is None:
        server = S3ProxyServer(data_dir=work / "s3proxy", cache_dir=Paths.from_env().cache)
        started_s = server.start()
        os.environ.update(server.environment())
        print(f"S3Proxy {server.endpoint} answered after {started_s:.1f}s")
    base_url = args.url or f"s3://{server.buckets[0]}/bench"
    try:
        if args.race_only:
            report_race(base_url)
            return
        adapters = {"MiniLM head": classifiers()[0]}
        if not args.skip_lora:
            adapters["SmolLM2 LoRA"] = generator()
        print(f"{'adapter':<14}{'size':>9}{'upload':>10}{'download':>10}{'cache hit':>11}{'load (hit)':>12}"
              f"{'file load':>11}   (ms, median of {args.repeats})")
        for name, adapter in adapters.items():
            r = bench(name.replace(" ", "-"), adapter, base_url, work, args.repeats)
            print(f"{name:<14}{r['bytes'] / 1e6:>7.2f}MB{r['upload']:>10.0f}{r['download']:>10.0f}{r['hit']:>11.1f}"
                  f"{r['load']:>12.0f}{r['file']:>11.0f}")
        seen = alias_seen_ms(base_url, adapters["MiniLM head"], work, args.repeats * 4)
        print(f"alias move seen by another host: {seen:.0f} ms (median of {args.repeats * 4})")
        report_race(base_url)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
