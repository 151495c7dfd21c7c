"""Release gates: decide, with reasons, whether a candidate may replace production (never promote)."""

from pioneer.gates.contract import FlipContract, FlipVerdict
from pioneer.gates.regression import NO_BASELINE_NOTE, CheckpointEval, RegressionGate

__all__ = ["NO_BASELINE_NOTE", "CheckpointEval", "FlipContract", "FlipVerdict", "RegressionGate"]
