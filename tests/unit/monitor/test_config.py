"""The monitor's settings: trace-counted defaults reach the watch, and settings that no longer exist are named."""

from __future__ import annotations

import pytest

from pioneer.cli.options import unknown_settings
from pioneer.monitor import HALF_LIFE_TRACES, RECENT_HALF_LIFE_TRACES
from streams.monitor.config import MonitorConfig


def test_the_defaults_count_traces_and_cap_nothing() -> None:
    watch = MonitorConfig().watch_factory()("intents")
    assert (watch.clusterer.half_life, watch.clusterer.recent_half_life) == (HALF_LIFE_TRACES, RECENT_HALF_LIFE_TRACES) == (50_000.0, 5_000.0)
    assert watch.detector.heartbeat == RECENT_HALF_LIFE_TRACES
    trig = watch.trigger
    assert (trig.min_new_failures, trig.max_requests_per_day, trig.max_trainer_share) == (25, None, 1.0)


def test_user_caps_reach_the_trigger() -> None:
    trig = MonitorConfig(max_requests_per_day=3, max_trainer_share=0.25).watch_factory()("intents").trigger
    assert (trig.max_requests_per_day, trig.max_trainer_share) == (3, 0.25)


def test_settings_that_are_not_the_monitors_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIONEER_MONITOR_COOLDOWN", "30")  # a wall-clock cooldown is no longer a setting
    monkeypatch.setenv("PIONEER_MONITOR_MIN_NEW_FAILURES", "40")
    assert "PIONEER_MONITOR_COOLDOWN" in unknown_settings("PIONEER_MONITOR_", MonitorConfig)
    assert "PIONEER_MONITOR_MIN_NEW_FAILURES" not in unknown_settings("PIONEER_MONITOR_", MonitorConfig)
