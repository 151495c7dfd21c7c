"""Turning a gate verdict into registry state and events: promote only what is blessed, say everything.

The gate never promotes (TFX's evaluator/pusher split): :func:`promote` reads the candidate's stored gate
report and refuses a version without a passing one. Event ids are derived from the request, so a replayed
decision publishes the same ids.
"""

from __future__ import annotations

import logging

from pioneer.events import (
    AliasMove,
    GateCheck,
    GateReport,
    ModelRef,
    ModelRelease,
    ReleaseRejection,
)
from pioneer.registry import Registry, RegistryError, VersionManifest

log = logging.getLogger(__name__)


def promote(
    registry: Registry,
    model: str,
    version: str,
    *,
    alias: str = "production",
    expected_from: str | None,
    request_id: str,
    reason: str,
    require_blessing: bool = True,
) -> AliasMove:
    """Move ``alias`` to ``version`` for ``request_id`` (idempotent), refusing a version without a passing gate report.

    ``require_blessing=False`` exists for the naive baseline only, and logs a warning.
    """
    manifest = registry.get_manifest(model, version)
    if not manifest.blessed:
        if require_blessing:
            raise RegistryError(f"version {version} of model {model!r} has no passing gate report", "INVALID_STATE")
        log.warning("promoting a version without a passing gate report", extra={"model": model, "version": version})
    return registry.move_alias(
        model, alias, version, kind="release", reason=reason, request_id=request_id, expected_from=expected_from
    )


def release_event(
    manifest: VersionManifest, move: AliasMove, *, request_id: str, timestamp: float, artifact_uri: str | None
) -> ModelRelease:
    assert manifest.gate_report is not None
    return ModelRelease(
        event_id=f"rel-{request_id}",
        timestamp=timestamp,
        model=ModelRef(name=manifest.model, version=manifest.version),
        parent_version=move.from_version,
        alias=move,
        metrics=dict(manifest.metrics),
        gate_report=manifest.gate_report,
        request_id=request_id,
        task=manifest.task,  # type: ignore[arg-type]
        base_model=manifest.base_model,
        artifact_uri=artifact_uri,
    )


def rejection_event(
    model: str,
    *,
    version: str | None,
    production_version: str | None,
    report: GateReport,
    request_id: str,
    timestamp: float,
    metrics: dict[str, float] | None = None,
    reason: str | None = None,
) -> ReleaseRejection:
    """A rejection. With no candidate (nothing was trainable), ``model.version`` names production."""
    failed = [c for c in report.checks if not c.passed]
    if reason is None:
        reason = "; ".join(_why(c) for c in failed) or "; ".join(report.notes) or "gate did not pass"
    return ReleaseRejection(
        event_id=f"rej-{request_id}",
        timestamp=timestamp,
        model=ModelRef(name=model, version=version or production_version or "none"),
        production_version=production_version,
        gate_report=report,
        reason=reason[:2000],
        request_id=request_id,
        metrics=metrics,
    )


def _why(check: GateCheck) -> str:
    if check.observed is None or check.threshold is None:
        return f"{check.name}: {check.detail}"
    sign = ">" if "flips" in check.name or check.name == "slice_drop" else "<"
    return f"{check.name}: {check.observed:g} {sign} {check.threshold:g}"
