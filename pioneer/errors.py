"""Exceptions shared across Pioneer."""


class PioneerError(Exception):
    """Base class of every error Pioneer raises on purpose."""


class NotFittedError(PioneerError, ValueError, AttributeError):
    """A component was used before it learned anything (as scikit-learn's ``NotFittedError``)."""


class ConfigError(PioneerError, ValueError):
    """A setting or argument is invalid; the message names it and says what is allowed."""
