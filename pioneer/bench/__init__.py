"""AdaptFT-Bench: synthetic inference logs with known ground truth, and Pioneer against naive retraining."""

from pioneer.bench.generator import REFERENCE_POISON_RATES, LogGenerator, allot
from pioneer.bench.logs import (
    FIXABLE_KINDS,
    KINDS,
    POISON_KINDS,
    BenchLogs,
    Stage,
    SyntheticLog,
    category_of,
    feedback_example,
)
from pioneer.bench.patterns import StagePatterns, discover_patterns
from pioneer.bench.report import write_report
from pioneer.bench.runner import METHODS, AdaptFTRunner, Checkpoint, ScenarioResult
from pioneer.bench.scenarios import SCENARIOS, Scenario
from pioneer.bench.scoring import (
    DiagnosisScore,
    Recovery,
    diagnosis_scores,
    fixed,
    merge_scores,
    negative_flips,
    pattern_recovery,
    trained_counts,
)

__all__ = [
    "FIXABLE_KINDS",
    "KINDS",
    "METHODS",
    "POISON_KINDS",
    "REFERENCE_POISON_RATES",
    "SCENARIOS",
    "AdaptFTRunner",
    "BenchLogs",
    "Checkpoint",
    "DiagnosisScore",
    "LogGenerator",
    "Recovery",
    "Scenario",
    "ScenarioResult",
    "Stage",
    "StagePatterns",
    "SyntheticLog",
    "allot",
    "category_of",
    "diagnosis_scores",
    "discover_patterns",
    "feedback_example",
    "fixed",
    "merge_scores",
    "negative_flips",
    "pattern_recovery",
    "trained_counts",
    "write_report",
]
