from __future__ import annotations

import pytest

from pioneer.errors import ConfigError
from pioneer.events import EVENT_TYPES
from pioneer.topics import CATALOGUE


def test_every_event_type_has_exactly_one_topic() -> None:
    for event_type in EVENT_TYPES:
        homes = [spec.name for spec in CATALOGUE if event_type in spec.event_types]
        assert len(homes) == 1, (event_type, homes)


def test_logs_and_labels_are_co_partitioned_by_request_id() -> None:
    logs, labels = CATALOGUE.by_event_type("inference_log"), CATALOGUE.by_event_type("label")
    assert logs.key == labels.key == "request_id"
    assert logs.partitions == labels.partitions
    resized = CATALOGUE.with_partitions(8)
    assert resized.by_event_type("inference_log").partitions == resized.by_event_type("label").partitions == 8


def test_releases_are_compacted_per_model() -> None:
    releases = CATALOGUE.by_event_type("model_release")
    assert releases.cleanup_policy == "compact" and releases.key == "model"
    assert CATALOGUE.by_event_type("model_rollback") is releases
    assert "retention.ms" not in releases.configs()
    assert CATALOGUE.by_event_type("inference_log").configs()["retention.ms"] == str(7 * 86_400_000)


def test_prefix_renames_every_topic() -> None:
    renamed = CATALOGUE.with_prefix("acme.")
    assert [spec.name for spec in renamed] == [spec.name.replace("pioneer.", "acme.", 1) for spec in CATALOGUE]
    with pytest.raises(ConfigError):
        CATALOGUE.with_prefix("bad prefix")
