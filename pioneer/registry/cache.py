"""``VersionCache``: the versions a host downloaded from a remote registry, kept on its disk within a byte budget.

A version is immutable and named by its content hash, so a cached copy never goes stale: a hot swap back to a
version this host served before (a rollback, a second server process) reads the disk instead of the network.
Each entry is downloaded into a staging directory and renamed into place whole, then checked against the
manifest's sha256 on every use; a copy that fails is dropped and fetched again. Least recently used entries
are evicted past ``max_bytes``, never the ``keep`` most recent ones (the version serving now and the one a
rollback would return to).

>>> import hashlib, tempfile
>>> cache = VersionCache(tempfile.mkdtemp(), max_bytes=1 << 20)
>>> def fetch(name, sha256, dest): dest.write_bytes(b"weights")
>>> files = {"model.bin": hashlib.sha256(b"weights").hexdigest()}
>>> path = cache.get("m", "sha256-0123456789abcdef", files, fetch)
>>> (path / "model.bin").read_bytes(), cache.misses
(b'weights', 1)
>>> _ = cache.get("m", "sha256-0123456789abcdef", files, fetch); cache.hits
1
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from pioneer.registry.file import _file_sha256, _tampered

log = logging.getLogger(__name__)

Fetch = Callable[[str, str, Path], None]
"""``fetch(name, sha256, dest)`` writes the file ``name`` of a version (whose content hash is ``sha256``) to ``dest``."""

DEFAULT_MAX_BYTES = 4 << 30


class CorruptDownload(Exception):
    """A fetched file does not hash to what the manifest says."""


class VersionCache:
    """Versions of remote models on local disk, LRU-bounded.

    Parameters
    ----------
    root
        Directory holding ``<model>/<version>/`` entries; created on first use.
    max_bytes
        Budget of the entries together; the least recently used ones go first when it is exceeded.
    keep
        How many most recently used entries are never evicted, whatever their size.
    """

    def __init__(self, root: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = 2) -> None:
        if max_bytes < 0 or keep < 1:
            raise ValueError(f"max_bytes must be >= 0 and keep >= 1 (got {max_bytes}, {keep})")
        self.root = Path(root).expanduser()
        self.max_bytes = max_bytes
        self.keep = keep
        self.hits = 0
        self.misses = 0
        self._counter_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VersionCache(root={str(self.root)!r}, max_bytes={self.max_bytes}, keep={self.keep})"

    def get(self, model: str, version: str, files: Mapping[str, str], fetch: Fetch) -> Path:
        """The local directory of ``version``, fetching what is missing or damaged; every file checked."""
        entry = self.root / model / version
        with self._locked(f"{model}.{version}"):
            problem = _tampered(entry, files) if entry.is_dir() else "not cached"
            if problem is None:
                self._count(hit=True)
            else:
                if entry.exists():
                    log.warning("dropping a damaged cached version",
                                extra={"model": model, "version": version, "problem": problem})
                    _remove(entry)
                self._download(entry, files, fetch)
                self._count(hit=False)
            os.utime(entry)  # the directory's mtime is its last use
        self._evict()
        return entry

    def entries(self) -> list[tuple[Path, int, float]]:
        """Every cached version: its directory, bytes and last use, least recently used first."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.glob("*/sha256-*"):
            if entry.is_dir():
                size = sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
                found.append((entry, size, entry.stat().st_mtime))
        return sorted(found, key=lambda e: e[2])

    def _download(self, entry: Path, files: Mapping[str, str], fetch: Fetch) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
        try:
            for name, sha256 in sorted(files.items()):
                dest = staging / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                fetch(name, sha256, dest)
                if _file_sha256(dest) != sha256:
                    raise CorruptDownload(f"{name} was changed (its sha256 differs from the manifest's)")
            os.rename(staging, entry)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _evict(self) -> None:
        with self._locked(".evict"):
            entries = self.entries()
            total = sum(size for _, size, _ in entries)
            for entry, size, _ in entries[: max(len(entries) - self.keep, 0)]:
                if total <= self.max_bytes:
                    break
                _remove(entry)
                total -= size
                log.info("evicted a cached version", extra={"entry": str(entry), "bytes": size})

    def _count(self, *, hit: bool) -> None:
        with self._counter_lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """Across processes of this host: one download of a version at a time, one eviction at a time."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{name}.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _remove(entry: Path) -> None:
    """Rename first, then delete: a reader never sees half an entry under its real name."""
    trash = entry.parent / f".trash-{uuid.uuid4().hex}"
    with contextlib.suppress(FileNotFoundError):
        os.rename(entry, trash)
    shutil.rmtree(trash, ignore_errors=True)

