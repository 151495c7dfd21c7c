"""Where each scenario's examples come from, and how its task makes each noise kind."""

from pioneer.bench.sources.arithmetic import ArithmeticSource
from pioneer.bench.sources.base import BaseSets, Noised, Pool, TaskSource
from pioneer.bench.sources.entities import EntitySource, conll2003_source, restaurant8k_source
from pioneer.bench.sources.intents import IntentSource, banking_source, clinc150_source

__all__ = [
    "ArithmeticSource",
    "BaseSets",
    "EntitySource",
    "IntentSource",
    "Noised",
    "Pool",
    "TaskSource",
    "banking_source",
    "clinc150_source",
    "conll2003_source",
    "restaurant8k_source",
]
