"""Failpoints: nothing happens unless PIONEER_FAULTS names the point; then SIGKILL on the named hit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pioneer.errors import ConfigError
from pioneer.faults import parse_faults


def _passes(times: int, faults: str) -> int:
    code = f"from pioneer.faults import failpoint\nfor _ in range({times}): failpoint('p')\nprint('survived')"
    done = subprocess.run([sys.executable, "-c", code], check=False, env=dict(os.environ, PIONEER_FAULTS=faults), capture_output=True)
    return done.returncode


def test_a_failpoint_kills_its_process_on_the_named_hit_only() -> None:
    assert _passes(1, "p=2") == 0
    assert _passes(2, "p=2") == -signal.SIGKILL
    assert _passes(5, "other=1") == 0


@pytest.mark.parametrize("text", ["p=x", "p=0", "p=-1"])
def test_a_malformed_plan_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="PIONEER_FAULTS"):
        parse_faults(text)


def test_a_disk_full_failpoint_makes_every_later_write_fail(tmp_path) -> None:
    code = f"""
from pioneer.faults import failpoint
open({str(tmp_path / 'before')!r}, 'wb').write(b'x' * 100)
failpoint('p')
try:
    with open({str(tmp_path / 'after')!r}, 'wb') as file:
        file.write(b'x' * 100)
except OSError as exc:
    print('refused:', exc.strerror)
"""
    done = subprocess.run([sys.executable, "-c", code], check=False, env=dict(os.environ, PIONEER_FAULTS="p=1:disk_full"),
                          capture_output=True, text=True)
    assert done.returncode == 0 and "refused: File too large" in done.stdout, done.stderr
    assert (tmp_path / "before").stat().st_size == 100


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown action"):
        parse_faults("p=1:explode")
