"""Fault injection for failover tests: a named point in a worker where its process can be made to die.

A worker calls :func:`failpoint` at the moments a crash is most telling (outputs acknowledged but offsets
not committed; a version written but the alias not moved). Nothing happens unless ``PIONEER_FAULTS`` names
the point; then, on the given hit, the process either kills itself with SIGKILL, exactly as an OOM kill or a
lost host would end it (no ``finally`` blocks, no LeaveGroup, no flush), or, with ``:disk_full``, finds its
disk full from then on: every write to a file fails with ``EFBIG`` (its file-size limit drops to zero), as
writes to a full disk fail with ``ENOSPC``. The same idea as etcd's gofail or TiKV's fail-rs, reduced to
the actions failover tests need.

``PIONEER_FAULTS="join.traces_sent=3,trainer.decided=1"`` kills the process on the third pass through
``join.traces_sent`` (or the first through ``trainer.decided``); ``trainer.progress.releasing=1:disk_full``
fills the disk on the first pass through ``trainer.progress.releasing``.

>>> parse_faults("join.traces_sent=3, trainer.decided, trainer.progress.releasing=1:disk_full")
{'join.traces_sent': Fault(hit=3, action='kill'), 'trainer.decided': Fault(hit=1, action='kill'), 'trainer.progress.releasing': Fault(hit=1, action='disk_full')}
"""

from __future__ import annotations

import logging
import os
import resource
import signal
from collections import Counter
from functools import cache
from typing import NamedTuple

from pioneer.errors import ConfigError

ENV = "PIONEER_FAULTS"
ACTIONS = ("kill", "disk_full")

log = logging.getLogger(__name__)
_hits: Counter[str] = Counter()


class Fault(NamedTuple):
    hit: int
    action: str


def parse_faults(text: str) -> dict[str, Fault]:
    """``name=hit[:action]`` items, comma separated; a bare name means its first hit, the action is ``kill``
    unless named (``kill`` or ``disk_full``)."""
    plan: dict[str, Fault] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, rest = item.partition("=")
        hit, _, action = rest.partition(":")
        try:
            fault = Fault(int(hit) if hit else 1, action.strip() or "kill")
        except ValueError:
            raise ConfigError(f"{ENV}: {item!r} is not name=hit[:action] (hit a whole number)") from None
        if fault.hit < 1:
            raise ConfigError(f"{ENV}: {item!r} needs a hit of at least 1")
        if fault.action not in ACTIONS:
            raise ConfigError(f"{ENV}: {item!r} names an unknown action (one of {', '.join(ACTIONS)})")
        plan[name.strip()] = fault
    return plan


@cache
def _plan() -> dict[str, Fault]:
    return parse_faults(os.environ.get(ENV, ""))


def armed(name: str) -> bool:
    """Whether ``PIONEER_FAULTS`` names ``name`` (for work a failpoint needs done first, such as a flush)."""
    return name in _plan()


def failpoint(name: str) -> None:
    """Count a pass through ``name``; act (SIGKILL by default) if ``PIONEER_FAULTS`` says this is the hit."""
    fault = _plan().get(name)
    if fault is None:
        return
    _hits[name] += 1
    if _hits[name] != fault.hit:
        return
    log.warning("failpoint reached", extra={"failpoint": name, "hit": fault.hit, "action": fault.action})
    for handler in logging.getLogger().handlers:
        handler.flush()
    if fault.action == "disk_full":
        # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of ending the process.
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    else:
        os.kill(os.getpid(), signal.SIGKILL)
