"""The registry across crashes: a process killed (SIGKILL) between an alias's pointer and its history line, and a
disk that fills while a version is written. One move per request; the alias never half-moved."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pioneer.registry import FileRegistry, RegistryError
from tests.unit.registry.test_file_registry import blessed
from tests.unit.registry.tiny_centroid import TRAIN, CentroidClassifier

MOVE = """
import sys
from pioneer.registry import FileRegistry
FileRegistry(sys.argv[1]).move_alias("intents", "production", sys.argv[2], kind="release", request_id="r-1",
                                      expected_from=sys.argv[3])
"""


def _two_versions(registry: FileRegistry) -> tuple[str, str]:
    first = registry.register_version("intents", CentroidClassifier().fit(TRAIN), blessed()).version
    second = registry.register_version("intents", CentroidClassifier().fit(TRAIN[:3]), blessed()).version
    registry.move_alias("intents", "production", first, kind="set")
    return first, second


def test_a_move_killed_between_pointer_and_history_is_completed_by_its_retry(registry: FileRegistry) -> None:
    first, second = _two_versions(registry)
    env = dict(os.environ, PIONEER_FAULTS="registry.alias_pointer_written")
    killed = subprocess.run([sys.executable, "-c", MOVE, str(registry.root), second, first], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert registry.get_alias("intents", "production") == second
    assert [r.request_id for r in registry.alias_history("intents", "production")] == [None]  # the line never came

    # the retry (a replayed request) finds its move, completes the history, and moves nothing again
    move = registry.move_alias("intents", "production", second, kind="release", request_id="r-1", expected_from=first)
    assert (move.from_version, move.to_version) == (first, second)
    history = registry.alias_history("intents", "production")
    assert [(r.request_id, r.to_version) for r in history] == [(None, first), ("r-1", second)]
    assert registry.previous_version("intents", "production") == first
    again = registry.move_alias("intents", "production", second, kind="release", request_id="r-1", expected_from=first)
    assert again == move and len(registry.alias_history("intents")) == 2


def test_a_full_disk_while_registering_leaves_no_version_and_the_alias_where_it_was(registry: FileRegistry) -> None:
    first, _ = _two_versions(registry)
    code = """
import resource, signal, sys
from pioneer.registry import FileRegistry, RegistryError
from tests.unit.registry.test_file_registry import blessed
from tests.unit.registry.tiny_centroid import TRAIN, CentroidClassifier
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
try:
    FileRegistry(sys.argv[1]).register_version("intents", CentroidClassifier().fit(TRAIN[:5]), blessed())
except RegistryError as exc:
    print("refused:", exc)
    sys.exit(3)
"""
    done = subprocess.run([sys.executable, "-c", code, str(registry.root)], capture_output=True, text=True,
                          cwd=Path(__file__).parents[3])
    assert done.returncode == 3, done.stderr
    assert "STORAGE_ERROR" in done.stdout and "File too large" in done.stdout
    assert len(registry.list_versions("intents")) == 2  # nothing half-written became a version
    assert not any((registry.root / "intents" / ".staging").iterdir())
    assert registry.get_alias("intents", "production") == first


def test_a_pointer_without_its_record_is_left_alone(registry: FileRegistry) -> None:
    """Pointers written before records were kept in them carry no move to complete the history with."""
    first, second = _two_versions(registry)
    pointer = registry.root / "intents" / "aliases" / "production.json"
    pointer.write_bytes(b'{"alias": "production", "version": "%s", "seq": 1, "at": 0}' % second.encode())
    with pytest.raises(RegistryError, match="not " + first):
        registry.move_alias("intents", "production", first, kind="release", request_id="r-2", expected_from=first)
    assert len(registry.alias_history("intents")) == 1
