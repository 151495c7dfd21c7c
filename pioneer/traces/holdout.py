"""Which traces are reserved for the regression set R: a fixed share, chosen by a stable hash of the request id.

A reserved trace is never trained on, by any retrain, whatever process decides it: membership depends only on
the request id and the share (sha256, not Python's salted ``hash``), so the trainer, a script and the trace
store's SQL filter agree, today and after a restart. Raising the share only adds traces (a trace reserved at
20% stays reserved at 30%), so R never loses a trace to a later setting.

>>> bucket("r-1") == bucket("r-1"), 0.0 <= bucket("r-1") < 1.0
(True, True)
>>> is_reserved("r-1", 0.0), is_reserved("r-1", 1.0)
(False, True)
>>> sum(is_reserved(f"r-{i}", 0.2) for i in range(10_000)) // 100   # about a fifth
20
"""

from __future__ import annotations

import hashlib

RESERVED_SHARE = 0.2
"""Default share of trusted passing traces reserved for R."""

_SALT = b"pioneer-regression-set:"
_SPAN = float(1 << 64)


def bucket(request_id: str) -> float:
    """Where ``request_id`` falls in [0, 1): the first 8 bytes of its salted sha256 as a fraction."""
    digest = hashlib.sha256(_SALT + request_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SPAN


def is_reserved(request_id: str, share: float = RESERVED_SHARE) -> bool:
    """Whether the trace of ``request_id`` belongs to the reserved share (R's pool, never trained on)."""
    check_share(share)
    return bucket(request_id) < share


def check_share(share: float) -> float:
    """``share`` if it is a fraction in [0, 1], else ``ValueError`` naming it."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"reserved share must be between 0 and 1, got {share!r}")
    return share
