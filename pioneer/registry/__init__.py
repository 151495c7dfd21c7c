"""The model registry: immutable content-hashed versions, aliases with an append-only history, rollback."""

from pioneer.registry.base import ANY_VERSION, Registry
from pioneer.registry.errors import RegistryError
from pioneer.registry.file import FileRegistry, content_hash
from pioneer.registry.records import (
    AliasRecord,
    StoredEvaluation,
    VersionInfo,
    VersionManifest,
    example_from_dict,
    example_to_dict,
)
from pioneer.registry.rollback import rollback

__all__ = [
    "ANY_VERSION",
    "AliasRecord",
    "FileRegistry",
    "Registry",
    "RegistryError",
    "StoredEvaluation",
    "VersionInfo",
    "VersionManifest",
    "content_hash",
    "example_from_dict",
    "example_to_dict",
    "rollback",
]
