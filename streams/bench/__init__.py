"""Benchmarks that need the stream layer: production-style deployments through real processes and topics."""

from streams.bench.deployment import (
    DEPLOYMENTS,
    DeploymentResult,
    DeploymentSpec,
    dataset_deployment,
    run_deployment,
)

__all__ = ["DEPLOYMENTS", "DeploymentResult", "DeploymentSpec", "dataset_deployment", "run_deployment"]
