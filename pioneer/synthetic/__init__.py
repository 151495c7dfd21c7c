"""Tasks and traffic that Pioneer generates itself (the zero-setup demo and the synthetic benchmarks)."""

from pioneer.synthetic.intents import BLIND_SPOT_INTENT, BankingTask

__all__ = ["BLIND_SPOT_INTENT", "BankingTask"]
