"""``S3Registry``: the registry in object storage through the S3 API, for several hosts without a shared disk.

Layout under ``s3://<bucket>/<prefix>``::

    <model>/blobs/<sha256>                  a file an adapter saved, named by its own content hash
    <model>/versions/<version>.json         {"manifest": VersionManifest, "evaluations": {name: StoredEvaluation}}
    <model>/datasets/<hash>.jsonl           content-addressed example sets
    <model>/alias-log/<seq>.json            one AliasRecord per object, seq zero-padded: the ordered alias history
    <model>/requests/<request>.json         what a retrain request decided

Why no lock is needed anywhere:

- A version's files are blobs named by their sha256, so two writers of the same file write the same bytes.
  The version object, which names them, is written last with ``If-None-Match: *``: a reader sees the whole
  version or none of it, and the first of two concurrent writers wins whole.
- An alias move is the creation of ``alias-log/<n>.json`` with ``If-None-Match: *`` where ``n`` is the length
  of the log the mover read. Of two movers that read the same log, exactly one creates slot ``n``; the other
  gets 412, reads the log again and re-checks its compare-and-set. The log is therefore gapless and totally
  ordered, and the alias view is its replay. Only the create-only condition is used (not ``If-Match``): it is
  what AWS S3, GCS, R2, MinIO and S3Proxy all implement atomically (S3Proxy's ``If-Match`` is a check before
  the write, which lets two writers through; see docs/registry-s3.md).

Endpoint, credentials and region come from the environment as the AWS tools read them (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_PROFILE``, ...).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from safetensors import SafetensorError

from pioneer.events import AliasMove
from pioneer.registry.base import ANY_VERSION, Registry
from pioneer.registry.cache import CorruptDownload, VersionCache
from pioneer.registry.errors import RegistryError
from pioneer.registry.file import (
    HASH_CHARS,
    NAME_RE,
    _check_name,
    _check_version,
    _fields,
    content_hash,
)
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

SEQ_DIGITS = 12
MOVE_ATTEMPTS = 50
"""How often a move re-reads the log after losing its slot to another writer before it gives up."""
CONFLICT = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
LOG_KEY_RE = re.compile(rf"/alias-log/\d{{{SEQ_DIGITS}}}\.json$")
VERSION_KEY_RE = re.compile(r"sha256-[0-9a-f]{12,64}\.json")
"""Only these names count: some servers list an object's upload in progress under a temporary name beside it."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix/")`` (the prefix empty or ending in '/').

    >>> parse_s3_url("s3://models/pioneer/prod")
    ('models', 'pioneer/prod/')
    >>> parse_s3_url("s3://models")
    ('models', '')
    """
    if not url.startswith("s3://"):
        raise RegistryError(f"registry URL {url!r} is not s3://bucket/prefix", "INVALID_PARAMETER_VALUE")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise RegistryError(f"registry URL {url!r} names no bucket", "INVALID_PARAMETER_VALUE")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def s3_client() -> Any:
    """A boto3 S3 client configured from the environment as the AWS CLI is.

    A custom endpoint (``AWS_ENDPOINT_URL``: MinIO, S3Proxy, R2, ...) gets path-style addressing, which every
    S3-compatible server understands, and ``us-east-1`` when no region is set.
    """
    import boto3
    from botocore.config import Config

    custom = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    session = boto3.session.Session()
    region = session.region_name or ("us-east-1" if custom else None)
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        s3={"addressing_style": "path" if custom else "auto"},
        max_pool_connections=32,
    )
    return session.client("s3", region_name=region, config=config)


class S3Registry(Registry):
    """A registry in an S3 bucket. See the module docstring for the layout and why it needs no lock.

    Parameters
    ----------
    url
        ``s3://bucket/prefix``.
    client
        A boto3 S3 client (default: :func:`s3_client`, from the environment).
    cache
        Where loaded versions are kept on this host (default: ``$PIONEER_HOME/cache/registry/<bucket>/<prefix>``,
        bounded by ``PIONEER_REGISTRY_CACHE_BYTES``, default 4 GiB).
    loader
        Loads an adapter from a directory (default ``pioneer.training.load_adapter``).
    """

    def __init__(
        self,
        url: str,
        *,
        client: Any = None,
        cache: VersionCache | None = None,
        loader: Callable[[Path], TaskAdapter] | None = None,
    ) -> None:
        self.url = url
        self.bucket, self.prefix = parse_s3_url(url)
        self.client = client if client is not None else s3_client()
        self.cache = cache if cache is not None else _default_cache(self.bucket, self.prefix)
        self.loader = loader
        self._manifests: dict[tuple[str, str], dict[str, Any]] = {}  # versions are immutable: cache them whole
        self._logs: dict[str, list[AliasRecord]] = {}
        self._log_lock = threading.Lock()
        self._create_only_checked = False
        self.lost_slots = 0
        """Alias moves that found their log slot taken by another writer and decided again (contention seen)."""

    def __repr__(self) -> str:
        return f"S3Registry(url={self.url!r})"

    # ------------------------------------------------------------------------------------------- versions

    def register_version(
        self,
        model: str,
        adapter: TaskAdapter,
        info: VersionInfo,
        *,
        evaluations: Mapping[str, StoredEvaluation] | None = None,
    ) -> VersionManifest:
        _check_name(model, "model name")
        for name in evaluations or {}:
            _check_name(name, "evaluation name")
        with tempfile.TemporaryDirectory(prefix="pioneer-register-") as staging:
            saved = Path(staging) / "model"
            try:
                saved.mkdir()
                adapter.save(saved)
                version, files = content_hash(saved)
            except (OSError, SafetensorError) as exc:
                raise RegistryError(f"could not save a version of {model!r} for upload: {exc}", "STORAGE_ERROR") from exc
            if self._exists(self._version_key(model, version)):
                log.info("version already registered", extra={"model": model, "version": version})
                return self.get_manifest(model, version)
            manifest = VersionManifest(
                model=model, version=version, task=adapter.task, created=time.time(), files=files, **_fields(info)
            )
            if manifest.gate_report is not None and manifest.gate_report.candidate_version is None:
                # The gate judged weights that had no name yet; the name is their hash, known only now.
                manifest.gate_report = dataclasses.replace(manifest.gate_report, candidate_version=version)
            self._upload_blobs(model, saved, files)
        body = {"manifest": manifest.to_dict(), "evaluations": {k: v.to_dict() for k, v in (evaluations or {}).items()}}
        if not self._create(self._version_key(model, version), orjson.dumps(body)):
            return self.get_manifest(model, version)  # another writer registered the same content first
        self._manifests[(model, version)] = body
        log.info("version registered", extra={"model": model, "version": version, "url": self.url})
        return manifest

    def _upload_blobs(self, model: str, saved: Path, files: Mapping[str, str]) -> None:
        def upload(name: str) -> None:
            key = self._blob_key(model, files[name])
            if not self._exists(key):  # a blob another version shares is not sent again
                self._call("upload_file", str(saved / name), self.bucket, key)

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(upload, sorted(files)))

    def _version_object(self, model: str, version: str) -> dict[str, Any]:
        _check_name(model, "model name")
        _check_version(version, "version")
        cached = self._manifests.get((model, version))
        if cached is None:
            data = self._get(self._version_key(model, version))
            if data is None:
                raise RegistryError(
                    f"version {version} of model {model!r} does not exist", "RESOURCE_DOES_NOT_EXIST"
                )
            cached = self._manifests[(model, version)] = orjson.loads(data)
        return cached

    def get_manifest(self, model: str, version: str) -> VersionManifest:
        return VersionManifest.from_dict(self._version_object(model, version)["manifest"])

    def load_adapter(self, model: str, version: str) -> TaskAdapter:
        """Load a version's adapter from this host's cache (downloading it once), its files checked against the
        manifest's content hashes."""
        path = self.version_path(model, version)
        if self.loader is not None:
            return self.loader(path)
        from pioneer.training import load_adapter

        return load_adapter(path)

    def version_path(self, model: str, version: str) -> Path:
        manifest = self.get_manifest(model, version)

        def fetch(name: str, sha256: str, dest: Path) -> None:
            from botocore.exceptions import ClientError

            try:
                self._call("download_file", self.bucket, self._blob_key(model, sha256), str(dest), expected=MISSING)
            except ClientError:
                raise CorruptDownload(f"{name} is missing from the store") from None

        try:
            return self.cache.get(model, version, manifest.files, fetch)
        except CorruptDownload as exc:
            raise RegistryError(
                f"version {version} of model {model!r} fails its integrity check: {exc}; refusing to load it",
                "INVALID_STATE",
            ) from None
        except OSError as exc:
            raise RegistryError(f"could not cache version {version} of {model!r}: {exc}", "STORAGE_ERROR") from exc

    def get_evaluation(self, model: str, version: str, name: str) -> StoredEvaluation | None:
        _check_name(name, "evaluation name")
        stored = self._version_object(model, version)["evaluations"].get(name)
        return None if stored is None else StoredEvaluation.from_dict(stored)

    def list_models(self) -> list[str]:
        names = [p[len(self.prefix):].rstrip("/") for p in self._prefixes(self.prefix)]
        return sorted(n for n in names if NAME_RE.fullmatch(n) and self._keys(f"{self.prefix}{n}/versions/", limit=1))

    def list_versions(self, model: str) -> list[VersionManifest]:
        _check_name(model, "model name")
        names = (k.rsplit("/", 1)[1] for k in self._keys(f"{self.prefix}{model}/versions/"))
        versions = [n.removesuffix(".json") for n in names if VERSION_KEY_RE.fullmatch(n)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            manifests = list(pool.map(lambda v: self.get_manifest(model, v), versions))
        return sorted(manifests, key=lambda m: (m.created, m.version))

    # ------------------------------------------------------------------------------------------- datasets

    def put_dataset(self, model: str, examples: Sequence[Example]) -> str:
        _check_name(model, "model name")
        body = b"".join(orjson.dumps(example_to_dict(e)) + b"\n" for e in examples)
        dataset = f"sha256-{hashlib.sha256(body).hexdigest()[:HASH_CHARS]}"
        key = f"{self.prefix}{model}/datasets/{dataset}.jsonl"
        if not self._exists(key):
            self._call("put_object", Bucket=self.bucket, Key=key, Body=body)
        return dataset

    def get_dataset(self, model: str, dataset: str) -> list[Example]:
        _check_name(model, "model name")
        _check_version(dataset, "dataset")
        data = self._get(f"{self.prefix}{model}/datasets/{dataset}.jsonl")
        if data is None:
            raise RegistryError(f"dataset {dataset} of model {model!r} does not exist", "RESOURCE_DOES_NOT_EXIST")
        return [example_from_dict(orjson.loads(line)) for line in data.splitlines() if line]

    # ------------------------------------------------------------------------------------------- aliases

    def get_alias(self, model: str, alias: str) -> str | None:
        _check_name(alias, "alias")
        return _aliases(self._log(model)).get(alias)

    def list_aliases(self, model: str) -> dict[str, str]:
        return dict(sorted(_aliases(self._log(model)).items()))

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
        self._check_create_only()
        for _ in range(MOVE_ATTEMPTS):
            history = self._log(model)
            if (done := replayed(history, alias, request_id)) is not None:
                return done
            current = _aliases(history).get(alias)
            record = next_record(history, model, alias, current, version, kind=kind, reason=reason,
                                 request_id=request_id, expected_from=expected_from)
            if self._create(self._log_key(model, record.seq), orjson.dumps(record.to_dict())):
                log.info("alias moved", extra={"model": model, "alias": alias, "from": current, "to": version,
                                               "kind": kind, "seq": record.seq})
                return record.move()
            self.lost_slots += 1  # another writer took this slot of the log: read what it wrote and decide again
        raise RegistryError(
            f"alias {alias!r} of model {model!r} lost its log slot {MOVE_ATTEMPTS} times in a row to other writers",
            "STORAGE_ERROR",
        )

    def alias_history(self, model: str, alias: str | None = None) -> list[AliasRecord]:
        if alias is not None:
            _check_name(alias, "alias")
        return [r for r in self._log(model) if alias is None or r.alias == alias]

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

    def _log(self, model: str) -> list[AliasRecord]:
        """The model's alias log, read forward from what this process has read already (records never change)."""
        _check_name(model, "model name")
        with self._log_lock:
            known = self._logs.setdefault(model, [])
            after = self._log_key(model, len(known) - 1) if known else None
            keys = [k for k in self._keys(f"{self.prefix}{model}/alias-log/", start_after=after) if LOG_KEY_RE.search(k)]
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                bodies = list(pool.map(self._get, keys))
            for key, body in zip(keys, bodies, strict=True):
                if body is None:
                    raise RegistryError(f"alias log entry {key} vanished", "STORAGE_ERROR")
                record = AliasRecord.from_dict(orjson.loads(body))
                if key != self._log_key(model, len(known)) or record.seq != len(known):
                    raise RegistryError(f"alias log of {model!r} has a gap or a stray entry at {key}", "INVALID_STATE")
                known.append(record)
            return list(known)

    def _check_create_only(self) -> None:
        """Refuse alias moves on a store that ignores ``If-None-Match: *`` (two writers could both win a slot)."""
        if self._create_only_checked:
            return
        key = f"{self.prefix}.pioneer-probe/{uuid.uuid4().hex}"
        try:
            honoured = self._create(key, b"1") and not self._create(key, b"2")
        finally:
            self._call("delete_object", Bucket=self.bucket, Key=key)
        if not honoured:
            raise RegistryError(
                f"the store behind {self.url} ignores If-None-Match on PutObject, so alias moves from several writers "
                "could overwrite each other; use a store with conditional writes (AWS S3, GCS, R2, MinIO, S3Proxy)",
                "STORAGE_ERROR",
            )
        self._create_only_checked = True

    # ------------------------------------------------------------------------------------------- requests

    def get_request(self, model: str, request_id: str) -> dict[str, Any] | None:
        data = self._get(self._request_key(model, request_id))
        return None if data is None else orjson.loads(data)

    def put_request(self, model: str, request_id: str, record: Mapping[str, Any]) -> None:
        body = orjson.dumps(dict(record), option=orjson.OPT_SORT_KEYS)
        self._call("put_object", Bucket=self.bucket, Key=self._request_key(model, request_id), Body=body)

    # ------------------------------------------------------------------------------------------- keys

    def _version_key(self, model: str, version: str) -> str:
        return f"{self.prefix}{model}/versions/{version}.json"

    def _blob_key(self, model: str, sha256: str) -> str:
        return f"{self.prefix}{model}/blobs/{sha256}"

    def _log_key(self, model: str, seq: int) -> str:
        return f"{self.prefix}{model}/alias-log/{seq:0{SEQ_DIGITS}d}.json"

    def _request_key(self, model: str, request_id: str) -> str:
        _check_name(model, "model name")
        if not request_id or len(request_id) > 200:
            raise RegistryError(f"request id {request_id!r} must have 1 to 200 characters", "INVALID_PARAMETER_VALUE")
        stem = request_id if NAME_RE.fullmatch(request_id) else "sha256-" + hashlib.sha256(request_id.encode()).hexdigest()
        return f"{self.prefix}{model}/requests/{stem}.json"

    # ------------------------------------------------------------------------------------------- S3 calls

    def _call(self, method: str, *args: Any, expected: frozenset[str] = frozenset(), **kwargs: Any) -> Any:
        """One S3 call; a failure whose code is not ``expected`` becomes ``RegistryError(STORAGE_ERROR)``."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(*args, **kwargs)
        except ClientError as exc:
            if _code(exc) in expected:
                raise
            raise RegistryError(f"{method} on s3://{self.bucket} failed: {exc}", "STORAGE_ERROR") from exc
        except (BotoCoreError, OSError) as exc:
            raise RegistryError(f"{method} on s3://{self.bucket} failed: {exc}", "STORAGE_ERROR") from exc

    def _get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self._call("get_object", Bucket=self.bucket, Key=key, expected=MISSING)["Body"].read()
        except ClientError as exc:
            if _code(exc) in MISSING:
                return None
            raise RegistryError(f"get_object {key} failed: {exc}", "STORAGE_ERROR") from exc

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._call("head_object", Bucket=self.bucket, Key=key, expected=MISSING)
            return True
        except ClientError as exc:
            if _code(exc) in MISSING:
                return False
            raise RegistryError(f"head_object {key} failed: {exc}", "STORAGE_ERROR") from exc

    def _create(self, key: str, body: bytes) -> bool:
        """Create ``key`` only if absent (``If-None-Match: *``); False when it exists already."""
        from botocore.exceptions import ClientError

        try:
            self._call("put_object", Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*", expected=CONFLICT)
            return True
        except ClientError as exc:
            if _code(exc) in CONFLICT:
                return False
            raise RegistryError(f"put_object {key} failed: {exc}", "STORAGE_ERROR") from exc

    def _keys(self, prefix: str, *, start_after: str | None = None, limit: int | None = None) -> list[str]:
        """Keys under ``prefix`` in lexical order (S3 lists in UTF-8 binary order, which zero-padding makes numeric)."""
        kwargs: dict[str, Any] = {"Prefix": prefix, **({"StartAfter": start_after} if start_after else {})}
        keys = [item["Key"] for page in self._pages(kwargs, limit) for item in page.get("Contents", [])]
        return keys if limit is None else keys[:limit]

    def _prefixes(self, prefix: str) -> list[str]:
        return [p["Prefix"] for page in self._pages({"Prefix": prefix, "Delimiter": "/"}) for p in page.get("CommonPrefixes", [])]

    def _pages(self, kwargs: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        pages, seen = [], 0
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, **kwargs):
                pages.append(page)
                seen += page.get("KeyCount", 0)
                if limit is not None and seen >= limit:
                    break
        except (ClientError, BotoCoreError, OSError) as exc:
            raise RegistryError(f"listing s3://{self.bucket}/{kwargs['Prefix']} failed: {exc}", "STORAGE_ERROR") from exc
        return pages

def _aliases(history: Sequence[AliasRecord]) -> dict[str, str]:
    """The alias view: each alias's latest move in the log."""
    return {record.alias: record.to_version for record in history}


def _code(exc: Any) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _default_cache(bucket: str, prefix: str) -> VersionCache:
    from pioneer.settings import Paths

    budget = os.environ.get("PIONEER_REGISTRY_CACHE_BYTES")
    where = Paths.from_env().cache / "registry" / bucket / (prefix.strip("/").replace("/", "%2F") or "_")
    return VersionCache(where, **({"max_bytes": int(budget)} if budget else {}))
