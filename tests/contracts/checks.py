"""The checks every component must pass, each a function of one :class:`~tests.contracts.components.Spec`.

Modelled on River's ``river/checks`` and scikit-learn's ``check_estimator``: parameters are the constructor's
keyword arguments (clone, repr, immutable defaults, refusal of bad values), runs are reproducible and leave their
inputs alone, state survives a save and load (Pioneer's own formats, never pickle), and nothing answers before it
learned.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from pioneer.errors import NotFittedError
from tests.contracts.components import Spec

IMMUTABLE = (type(None), int, float, str, bool, tuple, frozenset, type)


def same(a: Any, b: Any) -> bool:
    """Deep equality that also compares numpy arrays and slotted dataclasses."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def params(component: Any) -> dict[str, Any]:
    """The constructor parameters: ``get_params`` where the component has it, else its dataclass fields."""
    if hasattr(component, "get_params"):
        return component.get_params()
    return {f.name: getattr(component, f.name) for f in dataclasses.fields(component)}


def defaults(cls: type) -> dict[str, Any]:
    """Default values of the constructor's parameters (a dataclass's field defaults)."""
    if dataclasses.is_dataclass(cls):
        return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    signature = inspect.signature(cls.__init__)
    return {p.name: p.default for p in signature.parameters.values() if p.default is not p.empty}


# ---------------------------------------------------------------------------------------------- parameters


def check_docstring(spec: Spec) -> None:
    assert inspect.getdoc(type(spec.make())), f"{spec} has no docstring"


def check_defaults_are_immutable(spec: Spec) -> None:
    for name, value in defaults(type(spec.make())).items():
        assert isinstance(value, IMMUTABLE), f"{spec}.{name} defaults to a mutable {type(value).__name__}"


def check_clone(spec: Spec) -> None:
    component = spec.make()
    twin = component.clone()
    assert twin is not component and type(twin) is type(component)
    assert same(params(twin), params(component))
    changed = component.clone(**spec.change)
    assert same(params(changed), {**params(component), **spec.change})
    assert same(params(component), params(spec.make())), "clone(**changes) changed the original"
    with pytest.raises((TypeError, ValueError)):
        component.clone(no_such_parameter=1)


def check_repr_names_every_parameter(spec: Spec) -> None:
    component = spec.make()
    text = repr(component)
    assert text.startswith(f"{type(component).__name__}(")
    missing = [name for name in params(component) if f"{name}=" not in text]
    assert not missing, f"repr leaves out {missing}"


def check_bad_parameters_are_refused_at_construction(spec: Spec) -> None:
    with pytest.raises(ValueError, match=next(iter(spec.bad))):
        spec.make(**spec.bad)


# ---------------------------------------------------------------------------------------------- runs


def check_runs_are_reproducible(spec: Spec) -> None:
    """Same parameters (and seed), same data: same outputs and the same state."""
    seed = {"seed": 7} if spec.seeded else {}
    a, b = spec.make(**seed), spec.make(**seed)
    assert same(spec.run(a, spec.data()), spec.run(b, spec.data()))
    if spec.probe is not None:
        assert same(spec.probe(a, spec.data()), spec.probe(b, spec.data()))
    if spec.dump is not None:
        assert spec.dump(a) == spec.dump(b)


def check_a_clone_has_learned_nothing(spec: Spec) -> None:
    learned = spec.make()
    spec.run(learned, spec.data())
    assert same(spec.run(learned.clone(), spec.data()), spec.run(spec.make(), spec.data()))


def check_inputs_are_not_modified(spec: Spec) -> None:
    data = spec.data()
    before = copy.deepcopy(data)
    spec.run(spec.make(), data)
    assert same(data, before), f"{spec} modified its input"


def check_learning_returns_the_component(spec: Spec) -> None:
    component = spec.make()
    assert spec.learns(component, spec.data()) is component


def check_refuses_before_learning(spec: Spec) -> None:
    component = spec.make()
    for call in spec.unfitted:
        with pytest.raises(NotFittedError):
            call(component)


# ---------------------------------------------------------------------------------------------- state


def check_state_survives_save_and_load(spec: Spec) -> None:
    """Before learning and half-way through: the loaded copy holds the same state and goes on the same way."""
    fresh = spec.make()
    assert same(params(spec.load(spec.dump(fresh))), params(fresh))
    data = spec.data()
    half = len(data) // 2
    original = spec.make()
    spec.run(original, data[:half])
    restored = spec.load(spec.dump(original))
    assert spec.dump(restored) == spec.dump(original)
    assert same(spec.run(restored, data[half:]), spec.run(original, data[half:]))
    assert same(spec.probe(restored, data), spec.probe(original, data))
    assert spec.dump(restored) == spec.dump(original)


CHECKS: list[tuple[Callable[[Spec], None], Callable[[Spec], bool]]] = [
    (check_docstring, lambda s: True),
    (check_defaults_are_immutable, lambda s: True),
    (check_clone, lambda s: True),
    (check_repr_names_every_parameter, lambda s: True),
    (check_bad_parameters_are_refused_at_construction, lambda s: True),
    (check_runs_are_reproducible, lambda s: s.run is not None),
    (check_a_clone_has_learned_nothing, lambda s: s.run is not None),
    (check_inputs_are_not_modified, lambda s: s.run is not None),
    (check_learning_returns_the_component, lambda s: s.learns is not None),
    (check_refuses_before_learning, lambda s: bool(s.unfitted)),
    (check_state_survives_save_and_load, lambda s: s.dump is not None),
]
"""Each check with the specs it applies to."""
