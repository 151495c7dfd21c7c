"""``TraceStore``: the durable store of labelled traces the trainer queries (SQLite, one local file).

The labeled-trace topic is the source of truth and is consumed at least once, so inserts are idempotent by
``event_id``: a redelivered trace is ignored, never duplicated. Queries answer what the trainer asks: the
traces of one model (and version), of one error pattern, with one expected label, one outcome, in a time
window. Pattern membership lives in its own table keyed by request id, because the clusterer names members
by request id and may do so before or after the trace itself arrives.

SQLite runs in WAL mode, so a consumer can write while the trainer reads.

>>> from pioneer.events import Input, LabeledTrace, ModelRef, Output
>>> store = TraceStore(":memory:")
>>> trace = LabeledTrace(event_id="t-1", timestamp=2.0, request_id="r-1", model=ModelRef(name="m", version="v1"),
...     task="classification", input=Input(text="hi"), prediction=Output(label="greet"), outcome="pass",
...     source="human", log_event_id="l-1", label_event_id="b-1", served_at=1.0, labeled_at=2.0)
>>> store.add([trace, trace])
1
>>> store.attach_pattern("p-1", ["r-1"])
1
>>> [t.request_id for t in store.query(model="m", pattern_id="p-1")]
['r-1']
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from pioneer.events import LabeledTrace, from_dict
from pioneer.traces.holdout import RESERVED_SHARE, bucket, check_share

_SCHEMA = """
CREATE TABLE IF NOT EXISTS traces (
    event_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    task TEXT NOT NULL,
    outcome TEXT NOT NULL,
    source TEXT NOT NULL,
    expected_label TEXT,
    predicted_label TEXT,
    served_at REAL NOT NULL,
    labeled_at REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_model_time ON traces (model, labeled_at);
CREATE INDEX IF NOT EXISTS traces_model_version ON traces (model, version);
CREATE INDEX IF NOT EXISTS traces_request ON traces (request_id);
CREATE INDEX IF NOT EXISTS traces_model_label ON traces (model, expected_label);
CREATE TABLE IF NOT EXISTS trace_patterns (
    pattern_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (pattern_id, request_id)
);
CREATE INDEX IF NOT EXISTS trace_patterns_request ON trace_patterns (request_id);
"""


class TraceStore:
    """Labelled traces in a SQLite file. See the module docstring.

    Parameters
    ----------
    path
        The database file (created with its directory), or ``":memory:"`` for tests and doctests.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        # The same hash the trainer uses, so SQL picks exactly the reserved traces (see pioneer.traces.holdout).
        self._db.create_function("reserve_bucket", 1, bucket, deterministic=True)
        self._db.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"TraceStore(path={self.path!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- writes

    def add(self, traces: Iterable[LabeledTrace]) -> int:
        """Insert traces not seen before (by ``event_id``) in one transaction; returns how many were new."""
        rows = [
            (
                t.event_id,
                t.request_id,
                t.model.name,
                t.model.version,
                t.task,
                t.outcome,
                t.source,
                None if t.expected is None else t.expected.label,
                t.prediction.label,
                t.served_at,
                t.labeled_at,
                orjson.dumps(t),
            )
            for t in traces
        ]
        return self._insert_new("INSERT OR IGNORE INTO traces VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def attach_pattern(self, pattern_id: str, request_ids: Iterable[str]) -> int:
        """Record that the traces of ``request_ids`` belong to ``pattern_id``; returns how many links were new."""
        rows = [(pattern_id, request_id) for request_id in request_ids]
        return self._insert_new("INSERT OR IGNORE INTO trace_patterns VALUES (?, ?)", rows)

    def _insert_new(self, statement: str, rows: list[tuple[Any, ...]]) -> int:
        """Run ``statement`` over ``rows`` in one transaction (all or nothing); returns how many rows were new."""
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany(statement, rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return self._db.total_changes - before

    # ------------------------------------------------------------------------------------------- reads

    def query(
        self,
        *,
        model: str | None = None,
        version: str | None = None,
        pattern_id: str | None = None,
        label: str | None = None,
        predicted_label: str | None = None,
        outcome: str | None = None,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
        latest_per_request: bool = True,
        limit: int | None = None,
        reserved: bool | None = None,
        reserved_share: float = RESERVED_SHARE,
    ) -> list[LabeledTrace]:
        """Traces matching every given filter, oldest label first.

        ``label`` is the expected (corrected) label, ``source`` the label's source, ``since``/``until`` bound
        ``labeled_at`` (``until`` exclusive). ``reserved`` keeps only the traces of the reserved share (True) or
        only the others (False): the regression set's pool, chosen by request-id hash
        (:mod:`pioneer.traces.holdout`). With ``latest_per_request`` (the default) a request labelled twice appears
        once, with its latest label: a correction supersedes the first verdict, and a human label supersedes a
        judge's or a rule's whenever it came. ``limit`` keeps the most recent
        traces.
        """
        where, params = self._where(
            model=model,
            version=version,
            pattern_id=pattern_id,
            label=label,
            predicted_label=predicted_label,
            outcome=outcome,
            source=source,
            since=since,
            until=until,
            reserved=reserved,
            reserved_share=reserved_share,
        )
        if latest_per_request:
            # Newest human label per request, else newest label (ties broken by event id, deterministically).
            inner = (
                "SELECT body, labeled_at, event_id FROM (SELECT t.body, t.labeled_at, t.event_id, ROW_NUMBER() OVER ("
                "PARTITION BY t.request_id ORDER BY t.source = 'human' DESC, t.labeled_at DESC, t.event_id DESC) AS rank "
                f"FROM traces t {where}) WHERE rank = 1"
            )
        else:
            inner = f"SELECT t.body, t.labeled_at, t.event_id FROM traces t {where}"
        if limit is not None:
            sql = f"SELECT body FROM ({inner}) ORDER BY labeled_at DESC, event_id DESC LIMIT {int(limit)}"
            rows = list(reversed(self._fetch(sql, params)))
        else:
            rows = self._fetch(f"SELECT body FROM ({inner}) ORDER BY labeled_at, event_id", params)
        return [from_dict(LabeledTrace, orjson.loads(row[0])) for row in rows]

    def count(self, **filters: object) -> int:
        """How many traces match (same filters as :meth:`query`, every label of a request counted)."""
        where, params = self._where(**filters)  # type: ignore[arg-type]
        return int(self._fetch(f"SELECT COUNT(*) FROM traces t {where}", params)[0][0])

    def agreement(self, *, model: str, source: str = "judge", reference: str = "human") -> tuple[int, int]:
        """(agreed, pairs): requests of ``model`` labelled by both ``source`` and ``reference`` (the latest label of
        each), and how many of them got the same outcome from both."""
        latest = (
            "SELECT request_id, outcome, ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY labeled_at DESC, "
            "event_id DESC) AS rank FROM traces WHERE model = ? AND source = ?"
        )
        sql = (
            f"SELECT COALESCE(SUM(j.outcome = h.outcome), 0), COUNT(*) FROM ({latest}) j JOIN ({latest}) h "
            "ON j.request_id = h.request_id WHERE j.rank = 1 AND h.rank = 1"
        )
        agreed, pairs = self._fetch(sql, [model, source, model, reference])[0]
        return int(agreed), int(pairs)

    def patterns_of(self, request_id: str) -> list[str]:
        """Ids of the patterns a request was attached to."""
        rows = self._fetch(
            "SELECT pattern_id FROM trace_patterns WHERE request_id = ? ORDER BY pattern_id", [request_id]
        )
        return [row[0] for row in rows]

    def models(self) -> list[str]:
        return [row[0] for row in self._fetch("SELECT DISTINCT model FROM traces ORDER BY model", [])]

    # ------------------------------------------------------------------------------------------- internals

    def _fetch(self, sql: str, params: Sequence[object]) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @staticmethod
    def _where(
        *,
        model: str | None = None,
        version: str | None = None,
        pattern_id: str | None = None,
        label: str | None = None,
        predicted_label: str | None = None,
        outcome: str | None = None,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
        reserved: bool | None = None,
        reserved_share: float = RESERVED_SHARE,
    ) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("t.model", model),
            ("t.version", version),
            ("t.expected_label", label),
            ("t.predicted_label", predicted_label),
            ("t.outcome", outcome),
            ("t.source", source),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if pattern_id is not None:
            clauses.append("t.request_id IN (SELECT request_id FROM trace_patterns WHERE pattern_id = ?)")
            params.append(pattern_id)
        if since is not None:
            clauses.append("t.labeled_at >= ?")
            params.append(since)
        if until is not None:
            clauses.append("t.labeled_at < ?")
            params.append(until)
        if reserved is not None:
            clauses.append(f"reserve_bucket(t.request_id) {'<' if reserved else '>='} ?")
            params.append(check_share(reserved_share))
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
