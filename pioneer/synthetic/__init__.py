"""Tasks and traffic that Pioneer generates itself (the zero-setup demo and the synthetic benchmarks)."""

from pioneer.synthetic.arithmetic import ArithmeticTask, WordProblem
from pioneer.synthetic.intents import BLIND_SPOT_INTENT, BankingTask
from pioneer.synthetic.traffic import DriftingTraffic, PlannedRequest

__all__ = ["BLIND_SPOT_INTENT", "ArithmeticTask", "BankingTask", "DriftingTraffic", "PlannedRequest", "WordProblem"]
