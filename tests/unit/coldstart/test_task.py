"""Task analysis: kind, labels and metric from a description and examples; thin descriptions fail clearly."""

from __future__ import annotations

import pytest

from pioneer.coldstart import TaskTooThinError, analyse_task, run_coldstart
from pioneer.errors import ConfigError
from pioneer.registry import FileRegistry
from pioneer.training.base import Example


def test_labels_and_kind_from_the_description() -> None:
    spec = analyse_task("Sort each customer email into one of: refund, delivery, complaint.")
    assert spec.kind == "classification"
    assert spec.labels == ("refund", "delivery", "complaint")
    assert spec.metric == "accuracy"


def test_examples_decide_kind_and_labels() -> None:
    examples = [Example(text="where is my parcel", label="delivery", id="1"),
                Example(text="i want my money back", label="refund", id="2")]
    spec = analyse_task("customer emails to the shop", examples=examples)
    assert (spec.kind, spec.labels) == ("classification", ("delivery", "refund"))


def test_labels_with_descriptions() -> None:
    spec = analyse_task("Classify support tickets", labels="billing: money matters; outage: service is down")
    assert spec.labels == ("billing", "outage")
    assert spec.label_descriptions["outage"] == "service is down"


def test_too_thin_description_says_what_to_add() -> None:
    with pytest.raises(TaskTooThinError, match="too thin.*--examples"):
        analyse_task("classify")


def test_unknown_kind_says_to_pass_kind() -> None:
    with pytest.raises(TaskTooThinError, match="--kind"):
        analyse_task("emails from our customers about the shop")


def test_classification_without_labels_says_to_pass_labels() -> None:
    with pytest.raises(TaskTooThinError, match="--labels"):
        analyse_task("Classify the customer's email by its topic")


def test_examples_outside_the_given_labels_are_named() -> None:
    examples = [Example(text="hello", label="greeting", id="1")]
    with pytest.raises(ConfigError, match="greeting"):
        analyse_task("Classify messages", labels="refund, delivery", examples=examples)


def test_run_refuses_a_bad_description_before_touching_anything(tmp_path) -> None:
    with pytest.raises(TaskTooThinError, match="too thin"):
        run_coldstart("do it", model="m", registry=FileRegistry(tmp_path / "reg"), workdir=tmp_path / "work",
                      unlabeled=["a text"])
    assert not (tmp_path / "work").exists()


def test_run_without_any_data_says_what_to_pass(tmp_path) -> None:
    with pytest.raises(TaskTooThinError, match="--examples.*--unlabeled"):
        run_coldstart("Classify emails into one of: refund, delivery", model="m",
                      registry=FileRegistry(tmp_path / "reg"), workdir=tmp_path / "work")
