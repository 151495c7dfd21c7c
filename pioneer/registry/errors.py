"""The registry's one error type, with a code saying what went wrong (as MLflow's ``MlflowException``)."""

from __future__ import annotations

from typing import Literal

from pioneer.errors import PioneerError

ErrorCode = Literal[
    "RESOURCE_ALREADY_EXISTS",
    "RESOURCE_DOES_NOT_EXIST",
    "INVALID_PARAMETER_VALUE",
    "INVALID_STATE",
    "STORAGE_ERROR",
]


class RegistryError(PioneerError):
    """Every failure of a registry operation.

    ``code`` is one of ``RESOURCE_ALREADY_EXISTS``, ``RESOURCE_DOES_NOT_EXIST``, ``INVALID_PARAMETER_VALUE``
    or ``INVALID_STATE`` (for example an alias that moved under the caller, or a promotion without a positive
    gate report), or ``STORAGE_ERROR`` (the store refused a write: a full disk, a quota); the message names the
    resource.
    """

    def __init__(self, message: str, code: ErrorCode) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message
