"""One contract suite over every clusterer, trigger, gate, diagnoser, curriculum builder and task adapter.

Test ids read ``Component:check``; a check runs only on the components it applies to (a gate learns nothing, so
it has no state to save).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from pioneer.errors import NotFittedError
from pioneer.training import Example
from tests.contracts.checks import CHECKS, IMMUTABLE, defaults
from tests.contracts.components import (
    ADAPTERS,
    BUILDER,
    CLUSTERER,
    COMPONENTS,
    DIAGNOSER,
    EMERGING,
    RETRAIN,
    AdapterSpec,
    Spec,
)

CASES = [(spec, check) for spec in COMPONENTS for check, applies in CHECKS if applies(spec)]


@pytest.mark.parametrize(("spec", "check"), CASES, ids=[f"{s}:{c.__name__[6:]}" for s, c in CASES])
def test_component(spec: Spec, check: Callable[[Spec], None]) -> None:
    check(spec)


def test_every_component_kind_is_covered() -> None:
    names = {spec.name for spec in COMPONENTS} | {spec.name for spec in ADAPTERS}
    for kind in ("Clusterer", "Detector", "Trigger", "Gate", "Diagnoser", "Builder", "Adapter"):
        assert any(kind in name for name in names), kind


def test_the_data_makes_each_learner_act() -> None:
    """The checks compare real work: clusters form, patterns emerge, requests fire, a pattern is fixable."""
    clusterer = CLUSTERER.make()
    CLUSTERER.run(clusterer, CLUSTERER.data())
    assert clusterer.n_clusters_ == 3
    assert len(EMERGING.run(EMERGING.make(), EMERGING.data())) == 1
    assert len(RETRAIN.run(RETRAIN.make(), RETRAIN.data())) == 1
    assert DIAGNOSER.run(DIAGNOSER.make(), DIAGNOSER.data()).patterns[0].fixable
    assert "hard_negative" in {role for role, _ in BUILDER.probe(BUILDER.make(), BUILDER.data())}


# ---------------------------------------------------------------------------------------------- task adapters


@pytest.mark.parametrize("spec", ADAPTERS, ids=str)
def test_adapter_config_has_immutable_defaults_and_round_trips(spec: AdapterSpec) -> None:
    for name, value in defaults(spec.config).items():
        assert isinstance(value, IMMUTABLE), f"{spec.config.__name__}.{name} defaults to a mutable value"
    assert not [f.name for f in dataclasses.fields(spec.config) if f.default_factory is not dataclasses.MISSING]
    config = spec.config()
    again = spec.config.from_dict(config.to_dict())
    assert again == config and again.config_hash() == config.config_hash()
    assert spec.config(seed=config.seed + 1).config_hash() != config.config_hash()


@pytest.mark.parametrize("spec", ADAPTERS, ids=str)
def test_adapter_refuses_a_bad_config_at_construction(spec: AdapterSpec) -> None:
    with pytest.raises(ValueError, match=next(iter(spec.bad))):
        spec.adapter(spec.config(**spec.bad))


@pytest.mark.parametrize("spec", ADAPTERS, ids=str)
def test_adapter_refuses_before_learning(spec: AdapterSpec, tmp_path: Path) -> None:
    adapter = spec.adapter()
    assert adapter.__doc__ and adapter.config == spec.config()
    with pytest.raises(NotFittedError):
        adapter.predict(["hello"])
    with pytest.raises(NotFittedError):
        adapter.evaluate([Example(id="e1", text="hello", label="greeting", target="hi", spans=())])
    with pytest.raises(NotFittedError):
        adapter.save(tmp_path / "adapter")
    assert not (tmp_path / "adapter").exists()
