"""``FileRegistry``: the registry as a plain directory tree (the local default).

Layout under ``root``::

    <model>/versions/<version>/model/...          what adapter.save wrote (safetensors weights, JSON config)
    <model>/versions/<version>/manifest.json      VersionManifest
    <model>/versions/<version>/evals/<name>.json  StoredEvaluation (per-example results the version was gated on)
    <model>/datasets/<hash>.jsonl                 content-addressed example sets (training data, evaluation sets)
    <model>/aliases/<alias>.json                  {"alias", "version", "seq", "at"}
    <model>/alias-history.jsonl                   one AliasRecord per line, append-only
    <model>/requests/<request>.json               what a retrain request decided (idempotence by request id)

Why it is crash-safe: a version is assembled in ``<model>/.staging/`` and renamed into ``versions/`` in one
step, so a reader sees all of it or none; single files are written to a temporary name and renamed (or
hard-linked, for create-only files, which fails instead of clobbering). Alias moves take an exclusive lock on
``<model>/.lock`` so two writers cannot interleave a read-modify-write.

>>> import tempfile
>>> registry = FileRegistry(tempfile.mkdtemp())
>>> registry.get_alias("intents", "production") is None
True
>>> registry.get_manifest("intents", "sha256-000000000000")
Traceback (most recent call last):
...
pioneer.registry.errors.RegistryError: RESOURCE_DOES_NOT_EXIST: version sha256-000000000000 of model 'intents' does not exist
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from safetensors import SafetensorError

from pioneer.events import AliasMove
from pioneer.faults import failpoint
from pioneer.registry.base import ANY_VERSION, Registry
from pioneer.registry.errors import RegistryError
from pioneer.registry.moves import check_move, next_record, replayed
from pioneer.registry.records import (
    AliasRecord,
    MoveKind,
    StoredEvaluation,
    VersionInfo,
    VersionManifest,
    example_from_dict,
    example_to_dict,
)
from pioneer.training.base import Example, TaskAdapter

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""Model and alias names (the event schemas' pattern): no path separators, no '%', no leading dot."""
VERSION_RE = re.compile(r"^sha256-[0-9a-f]{12,64}$")
HASH_CHARS = 16
"""Hex digits of sha256 kept in a version or dataset id (64 bits: collisions are not a practical concern)."""


VOLATILE_KEYS = frozenset({"fit_stats", "pioneer_version"})
"""Keys of saved JSON files left out of the version hash: run statistics (timings) and the writer's version
say nothing about the model, and would give the same weights a new name on every fit."""


def content_hash(directory: Path) -> tuple[str, dict[str, str]]:
    """``sha256-<hex>`` over the files under ``directory``, and each file's own sha256 (for integrity checks).

    The version hash covers every file's relative path and content: weights byte for byte, JSON files
    canonically (sorted keys) without :data:`VOLATILE_KEYS`, so equal weights and config give one version.
    """
    files: dict[str, str] = {}
    canonical: dict[str, str] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix()
        files[name] = canonical[name] = _file_sha256(path)
        if path.suffix == ".json":
            try:
                data = orjson.loads(path.read_bytes())
            except orjson.JSONDecodeError:
                continue
            stable = orjson.dumps(_without_volatile(data), option=orjson.OPT_SORT_KEYS)
            canonical[name] = hashlib.sha256(stable).hexdigest()
    total = hashlib.sha256()
    for name, digest in canonical.items():
        total.update(f"{name}\0{digest}\n".encode())
    return f"sha256-{total.hexdigest()[:HASH_CHARS]}", files


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tampered(directory: Path, files: Mapping[str, str]) -> str | None:
    """What differs between the files under ``directory`` and the manifest's ``files`` (None: nothing)."""
    present = {p.relative_to(directory).as_posix(): p for p in directory.rglob("*") if p.is_file()}
    for name in sorted(files.keys() | present.keys()):
        if name not in present:
            return f"{name} is missing"
        if name not in files:
            return f"{name} is not in the manifest"
        if _file_sha256(present[name]) != files[name]:
            return f"{name} was changed (its sha256 differs from the manifest's)"
    return None


def _without_volatile(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_volatile(v) for k, v in data.items() if k not in VOLATILE_KEYS}
    if isinstance(data, list):
        return [_without_volatile(v) for v in data]
    return data


class FileRegistry(Registry):
    """A registry in a local directory. See the module docstring for the layout.

    Parameters
    ----------
    root
        Directory holding every model; created on first write.
    loader
        Loads an adapter from the directory ``adapter.save`` wrote (default ``pioneer.training.load_adapter``,
        which picks the adapter class from the saved config).
    """

    def __init__(self, root: str | Path, *, loader: Callable[[Path], TaskAdapter] | None = None) -> None:
        self.root = Path(root).expanduser().absolute()  # artifact URIs need an absolute path
        self.loader = loader

    def __repr__(self) -> str:
        return f"FileRegistry(root={str(self.root)!r})"

    # ------------------------------------------------------------------------------------------- versions

    def register_version(
        self,
        model: str,
        adapter: TaskAdapter,
        info: VersionInfo,
        *,
        evaluations: Mapping[str, StoredEvaluation] | None = None,
    ) -> VersionManifest:
        model_dir = self._model_dir(model)
        staging = model_dir / ".staging" / uuid.uuid4().hex
        try:
            return self._register_staged(model, adapter, info, evaluations or {}, staging)
        except (OSError, SafetensorError) as exc:
            # Nothing became visible: the version appears only by the rename of a complete staging directory.
            raise RegistryError(f"could not write a version of {model!r} under {self.root}: {exc}", "STORAGE_ERROR") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _register_staged(
        self, model: str, adapter: TaskAdapter, info: VersionInfo, evaluations: Mapping[str, StoredEvaluation], staging: Path
    ) -> VersionManifest:
        model_dir = self._model_dir(model)
        (staging / "model").mkdir(parents=True)
        adapter.save(staging / "model")
        version, files = content_hash(staging / "model")
        target = model_dir / "versions" / version
        if target.exists():
            log.info("version already registered", extra={"model": model, "version": version})
            return self.get_manifest(model, version)
        manifest = VersionManifest(
            model=model, version=version, task=adapter.task, created=time.time(), files=files, **_fields(info)
        )
        if manifest.gate_report is not None and manifest.gate_report.candidate_version is None:
            # The gate judged weights that had no name yet; the name is their hash, known only now.
            manifest.gate_report = dataclasses.replace(manifest.gate_report, candidate_version=version)
        for name, evaluation in evaluations.items():
            _check_name(name, "evaluation name")
            _write(staging / "evals" / f"{name}.json", orjson.dumps(evaluation.to_dict()), overwrite=False)
        _write(staging / "manifest.json", _dumps(manifest.to_dict()), overwrite=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, target)
        except OSError:
            if not target.exists():
                raise
            # Another writer registered the same content between our check and our rename.
            return self.get_manifest(model, version)
        _fsync_dir(target.parent)
        log.info("version registered", extra={"model": model, "version": version})
        return manifest

    def get_manifest(self, model: str, version: str) -> VersionManifest:
        path = self._version_dir(model, version) / "manifest.json"
        try:
            return VersionManifest.from_dict(orjson.loads(path.read_bytes()))
        except FileNotFoundError:
            raise RegistryError(
                f"version {version} of model {model!r} does not exist", "RESOURCE_DOES_NOT_EXIST"
            ) from None

    def load_adapter(self, model: str, version: str) -> TaskAdapter:
        """Load a version's adapter, after checking its files against the manifest's content hashes."""
        manifest = self.get_manifest(model, version)
        path = self._version_dir(model, version) / "model"
        problem = _tampered(path, manifest.files)
        if problem is not None:
            raise RegistryError(
                f"version {version} of model {model!r} fails its integrity check: {problem}; refusing to load it",
                "INVALID_STATE",
            )
        if self.loader is not None:
            return self.loader(path)
        from pioneer.training import load_adapter

        return load_adapter(path)

    def version_path(self, model: str, version: str) -> Path:
        self.get_manifest(model, version)  # raises if absent
        return self._version_dir(model, version) / "model"

    def get_evaluation(self, model: str, version: str, name: str) -> StoredEvaluation | None:
        _check_name(name, "evaluation name")
        path = self._version_dir(model, version) / "evals" / f"{name}.json"
        if not path.exists():
            self.get_manifest(model, version)
            return None
        return StoredEvaluation.from_dict(orjson.loads(path.read_bytes()))

    def list_models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if NAME_RE.fullmatch(p.name) and (p / "versions").is_dir())

    def list_versions(self, model: str) -> list[VersionManifest]:
        versions_dir = self._model_dir(model) / "versions"
        if not versions_dir.is_dir():
            return []
        manifests = [self.get_manifest(model, p.name) for p in versions_dir.iterdir() if VERSION_RE.match(p.name)]
        return sorted(manifests, key=lambda m: (m.created, m.version))

    # ------------------------------------------------------------------------------------------- datasets

    def put_dataset(self, model: str, examples: Sequence[Example]) -> str:
        body = b"".join(orjson.dumps(example_to_dict(e)) + b"\n" for e in examples)
        dataset = f"sha256-{hashlib.sha256(body).hexdigest()[:HASH_CHARS]}"
        path = self._model_dir(model) / "datasets" / f"{dataset}.jsonl"
        if not path.exists():
            with contextlib.suppress(RegistryError):  # same content written concurrently: nothing to do
                _write(path, body, overwrite=False)
        return dataset

    def get_dataset(self, model: str, dataset: str) -> list[Example]:
        _check_version(dataset, "dataset")
        path = self._model_dir(model) / "datasets" / f"{dataset}.jsonl"
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            raise RegistryError(
                f"dataset {dataset} of model {model!r} does not exist", "RESOURCE_DOES_NOT_EXIST"
            ) from None
        return [example_from_dict(orjson.loads(line)) for line in lines if line]

    # ------------------------------------------------------------------------------------------- aliases

    def get_alias(self, model: str, alias: str) -> str | None:
        _check_name(alias, "alias")
        path = self._model_dir(model) / "aliases" / f"{alias}.json"
        try:
            return orjson.loads(path.read_bytes())["version"]
        except FileNotFoundError:
            return None

    def list_aliases(self, model: str) -> dict[str, str]:
        directory = self._model_dir(model) / "aliases"
        if not directory.is_dir():
            return {}
        names = sorted(p.stem for p in directory.glob("*.json") if NAME_RE.fullmatch(p.stem))
        return {name: version for name in names if (version := self.get_alias(model, name)) is not None}

    def move_alias(
        self,
        model: str,
        alias: str,
        version: str,
        *,
        kind: MoveKind = "set",
        reason: str = "",
        request_id: str | None = None,
        expected_from: str | None = ANY_VERSION,
    ) -> AliasMove:
        _check_name(alias, "alias")
        check_move(self, model, version, kind)
        with self._lock(model):
            history = self._completed_history(model, alias)
            if (done := replayed(history, alias, request_id)) is not None:
                return done
            current = self.get_alias(model, alias)
            record = next_record(history, model, alias, current, version, kind=kind, reason=reason,
                                 request_id=request_id, expected_from=expected_from)
            # Pointer first, then history: a crash in between leaves a move the history lacks, which the pointer
            # carries whole so the next move completes the history; the other order could record a move that
            # never happened.
            pointer = {"alias": alias, "version": version, "seq": record.seq, "at": record.at, "record": record.to_dict()}
            _write(self._model_dir(model) / "aliases" / f"{alias}.json", orjson.dumps(pointer), overwrite=True)
            failpoint("registry.alias_pointer_written")
            self._append_history(model, record)
        log.info("alias moved", extra={"model": model, "alias": alias, "from": current, "to": version, "kind": kind})
        return record.move()

    def _completed_history(self, model: str, alias: str) -> list[AliasRecord]:
        """The history, first completed (under the model's lock) by the move of ``alias`` whose pointer was written
        and whose history line was not: a crash between the two."""
        history = self.alias_history(model)
        try:
            pointer = orjson.loads((self._model_dir(model) / "aliases" / f"{alias}.json").read_bytes())
        except FileNotFoundError:
            return history
        if "record" in pointer and pointer["seq"] == len(history):
            record = AliasRecord.from_dict(pointer["record"])
            log.warning("completing an alias move a crash left out of the history",
                        extra={"model": model, "alias": alias, "to": record.to_version, "seq": record.seq})
            self._append_history(model, record)
            history.append(record)
        return history

    def alias_history(self, model: str, alias: str | None = None) -> list[AliasRecord]:
        if alias is not None:
            _check_name(alias, "alias")
        path = self._model_dir(model) / "alias-history.jsonl"
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        records = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                records.append(AliasRecord.from_dict(orjson.loads(line)))
            except (orjson.JSONDecodeError, TypeError):
                log.warning("skipping a torn alias-history line", extra={"model": model, "line": number})
        return [r for r in records if alias is None or r.alias == alias]

    def previous_version(self, model: str, alias: str) -> str | None:
        stack: list[str] = []
        for record in self.alias_history(model, alias):
            if record.kind == "rollback":
                if stack:
                    stack.pop()
                if not stack or stack[-1] != record.to_version:
                    stack.append(record.to_version)
            elif not stack or stack[-1] != record.to_version:
                stack.append(record.to_version)
        return stack[-2] if len(stack) >= 2 else None

    # ------------------------------------------------------------------------------------------- requests

    def get_request(self, model: str, request_id: str) -> dict[str, Any] | None:
        path = self._request_path(model, request_id)
        try:
            return orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return None

    def put_request(self, model: str, request_id: str, record: Mapping[str, Any]) -> None:
        _write(self._request_path(model, request_id), _dumps(dict(record)), overwrite=True)

    # ------------------------------------------------------------------------------------------- internals

    def _model_dir(self, model: str) -> Path:
        _check_name(model, "model name")
        return self.root / model

    def _version_dir(self, model: str, version: str) -> Path:
        _check_version(version, "version")
        return self._model_dir(model) / "versions" / version

    def _request_path(self, model: str, request_id: str) -> Path:
        if not request_id or len(request_id) > 200:
            raise RegistryError(f"request id {request_id!r} must have 1 to 200 characters", "INVALID_PARAMETER_VALUE")
        # Request ids come from events: keep the readable id when it is a safe file name, else hash it.
        stem = request_id if NAME_RE.fullmatch(request_id) else "sha256-" + hashlib.sha256(request_id.encode()).hexdigest()
        return self._model_dir(model) / "requests" / f"{stem}.json"

    @contextlib.contextmanager
    def _lock(self, model: str) -> Iterator[None]:
        model_dir = self._model_dir(model)
        model_dir.mkdir(parents=True, exist_ok=True)
        with open(model_dir / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _append_history(self, model: str, record: AliasRecord) -> None:
        path = self._model_dir(model) / "alias-history.jsonl"
        with open(path, "a+b") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":  # a torn line from a crash: end it so the next record stands alone
                    handle.write(b"\n")
            handle.write(orjson.dumps(record.to_dict()) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())


def _fields(info: VersionInfo) -> dict[str, Any]:
    return {name: getattr(info, name) for name in VersionInfo.__dataclass_fields__}


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise RegistryError(
            f"{what} {name!r} is invalid: use 1 to 128 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit",
            "INVALID_PARAMETER_VALUE",
        )


def _check_version(version: str, what: str) -> None:
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise RegistryError(f"{what} {version!r} is invalid: expected sha256-<hex>", "INVALID_PARAMETER_VALUE")


def _dumps(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def _write(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` atomically; with ``overwrite=False`` fail with RESOURCE_ALREADY_EXISTS instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic create that refuses to clobber
            except FileExistsError:
                raise RegistryError(f"{path} already exists", "RESOURCE_ALREADY_EXISTS") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
