"""A safe checkpoint format: numeric numpy arrays plus one JSON document, in a single ``.npz`` blob.

State crosses trust boundaries (a Kafka table, a shared disk), so it is never pickled: arrays of object dtype
are refused on write, and reads use ``allow_pickle=False``. The JSON part rides in the archive as a uint8
array, so one ``bytes`` value holds everything (a Faust table value, or a file).

>>> import numpy as np
>>> blob = pack({"w": np.arange(3.0)}, {"version": 1, "names": ["a"]})
>>> arrays, meta = unpack(blob)
>>> arrays["w"].tolist(), meta["names"]
([0.0, 1.0, 2.0], ['a'])
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson

_META = "__meta__"


def pack(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> bytes:
    """Serialise numeric ``arrays`` and a JSON-able ``meta`` dict to bytes."""
    for name, arr in arrays.items():
        if name == _META:
            raise ValueError(f"array name {_META!r} is reserved")
        if np.asarray(arr).dtype.kind not in "biuf":
            raise ValueError(f"array {name!r} has dtype {np.asarray(arr).dtype}; only numeric arrays are stored")
    buf = io.BytesIO()
    payload = np.frombuffer(orjson.dumps(meta, option=orjson.OPT_SERIALIZE_NUMPY), dtype=np.uint8)
    np.savez(buf, **arrays, **{_META: payload})
    return buf.getvalue()


def unpack(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Inverse of :func:`pack`; raises ``ValueError`` for anything that is not such a blob."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"not a state archive: {exc}") from exc
    if _META not in arrays:
        raise ValueError("not a state archive: no metadata")
    meta = orjson.loads(arrays.pop(_META).tobytes())
    return arrays, meta


def write_atomic(path: str | os.PathLike[str], blob: bytes) -> None:
    """Write ``blob`` to ``path`` so a crash leaves either the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
