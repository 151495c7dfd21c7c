"""The retrain loop: diagnosis -> curriculum -> candidates -> gate -> release decision (publishing is the caller's)."""

from pioneer.retrain.commit import apply_decision, commit_decision, replay_decision
from pioneer.retrain.datasets import (
    RetrainData,
    prepare,
    split_ids,
    stable_order,
    training_set,
)
from pioneer.retrain.decision import ReleaseDecision, build_decision, decision_metrics
from pioneer.retrain.first import train_first_version
from pioneer.retrain.handle import handle_request
from pioneer.retrain.loop import AdapterFactory, Retrainer, default_factory
from pioneer.retrain.naive import NAIVE_NOTE, NaiveRetrainer
from pioneer.retrain.progress import ProgressReporter, ProgressSink, TqdmSink
from pioneer.retrain.recipes import Recipe, RecipeSearch
from pioneer.retrain.release import promote, rejection_event, release_event

__all__ = [
    "NAIVE_NOTE",
    "AdapterFactory",
    "NaiveRetrainer",
    "ProgressReporter",
    "ProgressSink",
    "Recipe",
    "RecipeSearch",
    "ReleaseDecision",
    "RetrainData",
    "Retrainer",
    "TqdmSink",
    "apply_decision",
    "build_decision",
    "commit_decision",
    "decision_metrics",
    "default_factory",
    "handle_request",
    "prepare",
    "promote",
    "rejection_event",
    "release_event",
    "replay_decision",
    "split_ids",
    "stable_order",
    "train_first_version",
    "training_set",
]
