"""VersionCache: a bounded LRU of downloaded versions, every file checked against the manifest on every use."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pioneer.registry.cache import CorruptDownload, VersionCache

MB = 1 << 20


def _version(n: int, size: int = MB) -> tuple[str, dict[str, bytes]]:
    data = {"model.safetensors": bytes([n]) * size, "config.json": b'{"n": %d}' % n}
    return f"sha256-{n:016x}", data


def _files(data: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(body).hexdigest() for name, body in data.items()}


class Store:
    """What a remote store would serve, counting downloads."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.downloads = 0

    def add(self, data: dict[str, bytes]) -> dict[str, str]:
        files = _files(data)
        self.data.update({files[name]: body for name, body in data.items()})
        return files

    def fetch(self, name: str, sha256: str, dest: Path) -> None:
        self.downloads += 1
        dest.write_bytes(self.data[sha256])


def test_a_second_use_reads_the_disk_and_the_least_recently_used_is_evicted(tmp_path: Path) -> None:
    cache, store = VersionCache(tmp_path, max_bytes=int(2.5 * MB), keep=1), Store()
    versions = [_version(n) for n in range(3)]
    files = [store.add(data) for _, data in versions]
    first = cache.get("m", versions[0][0], files[0], store.fetch)
    assert (first / "model.safetensors").read_bytes() == versions[0][1]["model.safetensors"]
    cache.get("m", versions[1][0], files[1], store.fetch)
    os.utime(tmp_path / "m" / versions[0][0], (1, 1))  # v0 used long ago
    os.utime(tmp_path / "m" / versions[1][0], (2, 2))
    assert store.downloads == 4 and cache.misses == 2
    cache.get("m", versions[1][0], files[1], store.fetch)  # a swap back: no download
    assert store.downloads == 4 and cache.hits == 1
    cache.get("m", versions[2][0], files[2], store.fetch)  # 3 MB > 2.5 MB: the least recently used goes
    assert [e.name for e, _, _ in cache.entries()] == [versions[1][0], versions[2][0]]


def test_the_most_recent_entries_are_kept_past_the_budget(tmp_path: Path) -> None:
    cache, store = VersionCache(tmp_path, max_bytes=0, keep=2), Store()
    for n in range(3):
        version, data = _version(n)
        cache.get("m", version, store.add(data), store.fetch)
    assert len(cache.entries()) == 2


def test_a_damaged_copy_is_fetched_again_and_a_corrupt_download_refused(tmp_path: Path) -> None:
    cache, store = VersionCache(tmp_path), Store()
    version, data = _version(7)
    files = store.add(data)
    path = cache.get("m", version, files, store.fetch)
    (path / "config.json").write_bytes(b'{"n": 8}')
    again = cache.get("m", version, files, store.fetch)
    assert (again / "config.json").read_bytes() == data["config.json"] and cache.misses == 2

    store.data[files["config.json"]] = b"tampered in the store"
    other, other_data = _version(9)
    other_files = {**_files(other_data), "config.json": files["config.json"]}
    with pytest.raises(CorruptDownload, match="config.json"):
        cache.get("m", other, other_files, store.fetch)
    assert not (tmp_path / "m" / other).exists() and not list((tmp_path / "m").glob(".sha256-*"))


def test_invalid_bounds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep"):
        VersionCache(tmp_path, keep=0)
