"""The parameter plumbing every Pioneer component shares: clone, repr and constructor validation.

Parameters are the constructor's keyword arguments, stored under the same names, so ``get_params``, ``clone`` and
``repr`` need no per-class code (as scikit-learn's ``BaseEstimator`` and River's ``Base`` do). Components validate
in ``__init__`` (as River's KSWIN does) with :func:`check_number`, so every bad value is refused the same way.

>>> check_number("decay", 0.5, 0.0, 1.0)
>>> check_number("decay", 2, 0.0, 1.0)
Traceback (most recent call last):
...
pioneer.errors.ConfigError: decay must be a number in [0.0, 1.0]; got 2
>>> check_number("half_life", 0, 0, math.inf, open_low=True, open_high=True)
Traceback (most recent call last):
...
pioneer.errors.ConfigError: half_life must be a number in (0, inf); got 0
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Self

from pioneer.errors import ConfigError


def check_number(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    integer: bool = False,
    optional: bool = False,
    open_low: bool = False,
    open_high: bool = False,
) -> None:
    """Raise :class:`ConfigError` naming ``name`` unless ``value`` is a number (an integer where ``integer``) in the
    interval from ``low`` to ``high``, each end closed unless ``open_low``/``open_high``; ``None`` passes where
    ``optional``. Booleans and NaN are refused."""
    if optional and value is None:
        return
    kind = int if integer else (int, float)
    above = isinstance(value, kind) and ((value > low) if open_low else (value >= low))
    below = isinstance(value, kind) and ((value < high) if open_high else (value <= high))
    if isinstance(value, bool) or not (above and below):
        interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        what = "an integer" if integer else "a number"
        raise ConfigError(f"{name} must be {what} in {interval}{' or None' if optional else ''}; got {value!r}")


class ParamsMixin:
    """``get_params``, ``clone`` and a repr read from the ``__init__`` signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters.values()
        names = []
        for p in params:
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise RuntimeError(f"{cls.__name__}.__init__ must take explicit keyword arguments, not *args/**kwargs")
            names.append(p.name)
        return names

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments this object was built with."""
        return {name: getattr(self, name) for name in self._param_names()}

    def clone(self, **changes: Any) -> Self:
        """A fresh, unfitted copy with the same parameters, except ``changes``."""
        unknown = set(changes) - set(self._param_names())
        if unknown:
            raise ValueError(f"unknown parameter(s) for {type(self).__name__}: {sorted(unknown)}")
        return type(self)(**{**self.get_params(), **changes})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


__all__ = ["ParamsMixin", "check_number"]
