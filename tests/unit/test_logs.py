"""Structured logs: a JSON line for every record, whatever its extra fields hold."""

from __future__ import annotations

import logging

import orjson

from pioneer.logs import JsonFormatter


def test_a_record_whose_extras_have_non_string_keys_is_still_one_json_line() -> None:
    record = logging.LogRecord("pioneer.test", logging.INFO, __file__, 1, "restored", None, None)
    record.watermarks = {0: 12, 3: 40}  # partition -> offset, as the monitor logs them
    record.when = object()  # anything else is written as its str()
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["msg"] == "restored" and entry["watermarks"] == {"0": 12, "3": 40} and "object" in entry["when"]
