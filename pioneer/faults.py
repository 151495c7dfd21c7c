"""Fault injection for failover tests: a named point in a worker where its process can be made to die.

A worker calls :func:`failpoint` at the moments a crash is most telling (outputs acknowledged but offsets
not committed; a version written but the alias not moved). Nothing happens unless ``PIONEER_FAULTS`` names
the point; then the process kills itself with SIGKILL on the given hit, exactly as an OOM kill or a lost
host would end it: no ``finally`` blocks, no LeaveGroup, no flush. The same idea as etcd's gofail or
TiKV's fail-rs, reduced to the one action failover tests need.

``PIONEER_FAULTS="join.traces_sent=3,trainer.before_alias=1"`` kills the process on the third pass
through ``join.traces_sent`` (or the first through ``trainer.before_alias``).

>>> parse_faults("join.traces_sent=3, trainer.before_alias")
{'join.traces_sent': 3, 'trainer.before_alias': 1}
"""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter
from functools import cache

from pioneer.errors import ConfigError

ENV = "PIONEER_FAULTS"

log = logging.getLogger(__name__)
_hits: Counter[str] = Counter()


def parse_faults(text: str) -> dict[str, int]:
    """``name=hit`` pairs, comma separated; a bare name means its first hit."""
    plan: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, hit = item.partition("=")
        try:
            plan[name.strip()] = int(hit) if hit else 1
        except ValueError:
            raise ConfigError(f"{ENV}: {item!r} is not name=hit (hit a whole number)") from None
        if plan[name.strip()] < 1:
            raise ConfigError(f"{ENV}: {item!r} needs a hit of at least 1")
    return plan


@cache
def _plan() -> dict[str, int]:
    return parse_faults(os.environ.get(ENV, ""))


def armed(name: str) -> bool:
    """Whether ``PIONEER_FAULTS`` names ``name`` (for work a failpoint needs done first, such as a flush)."""
    return name in _plan()


def failpoint(name: str) -> None:
    """Count a pass through ``name``; SIGKILL this process if ``PIONEER_FAULTS`` says this is the hit."""
    hit = _plan().get(name)
    if hit is None:
        return
    _hits[name] += 1
    if _hits[name] == hit:
        log.warning("failpoint reached: killing this process", extra={"failpoint": name, "hit": hit})
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
