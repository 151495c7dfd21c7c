"""The model registry: immutable content-hashed versions, aliases with an append-only history, rollback."""

from pioneer.registry.base import ANY_VERSION, Registry
from pioneer.registry.cache import VersionCache
from pioneer.registry.errors import RegistryError
from pioneer.registry.factory import open_registry
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
from pioneer.registry.s3 import S3Registry

__all__ = [
    "ANY_VERSION",
    "AliasRecord",
    "FileRegistry",
    "Registry",
    "RegistryError",
    "S3Registry",
    "StoredEvaluation",
    "VersionCache",
    "VersionInfo",
    "VersionManifest",
    "content_hash",
    "example_from_dict",
    "example_to_dict",
    "open_registry",
    "rollback",
]
