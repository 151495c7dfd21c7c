"""Child processes of the demo (server, monitor, trainer): started with their own logs, stopped in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


class ManagedProcess:
    """One ``pioneer`` subcommand running in the background, its output in ``log_path``."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log_path: Path) -> None:
        self.name, self.args, self.env, self.log_path = name, args, env, log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pioneer", "--log-format", "json", *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def stop(self, timeout: float = 20.0) -> None:
        """Ask it to stop (SIGINT, as Ctrl-C would), then insist."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def child_environment(home: Path, bootstrap: str) -> dict[str, str]:
    """The environment of the loop's child processes: this process's, with their home and broker, offline
    model loading, and idle OpenMP threads that sleep instead of spinning on shared cores."""
    env = dict(os.environ)
    env.update(
        PIONEER_HOME=str(home), PIONEER_BROKER=bootstrap, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false", PIONEER_LOG_LEVEL="INFO", OMP_WAIT_POLICY="PASSIVE",
    )
    return env
