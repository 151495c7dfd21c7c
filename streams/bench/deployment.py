"""Production-style deployments: a public task replayed through the whole loop, with real processes.

The same machinery as ``pioneer demo`` (:mod:`streams.demo`): the embedded broker, ``pioneer serve``,
``pioneer monitor`` and ``pioneer trainer`` as child processes, traffic through the server's HTTP API, labels
through its feedback endpoint a moment later, and the loop's topics followed live. What differs is the task
and the measurement:

1. a deliberately weak model is trained on a documented, seeded subset of the task's training split and
   released to ``production``;
2. the rest of the training split is the traffic, replayed at a steady rate in a seeded order; each request
   gets its true label back after ``label_delay`` seconds;
3. the monitor clusters failures and requests retrains, the trainer diagnoses, retrains and gates (with the
   trainer's flip budget) and the server hot-swaps every release, as long as traffic flows;
4. at the end the first and the final production versions are scored on the task's full held-out test split
   (never seen by anything above): metric before and after, fixed and broken examples, the failures observed
   in traffic that the final version now gets right, negative flips per release, retrain cycles, wall time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pioneer.errors import ConfigError
from pioneer.events import Output, Span
from pioneer.join.outcome import judge
from pioneer.reports import grouped_bars, table, timeline
from pioneer.training.base import BaseTrainConfig, Example
from streams.bench.pacing import MonitorProgress, ReplayPacer
from streams.bench.stalls import answered_while_busy, longest_stall
from streams.bench.tasks import WeakModelRecipe, load_splits, weak_model
from streams.demo.live import Answer, LiveState, rolling, send_label, watch_events
from streams.demo.releases import count, flips_plot, flips_table, r_flips, release_rows
from streams.demo.stack import LoopStack

log = logging.getLogger(__name__)

Loaded = tuple[list[Example], list[Example], list[Example], list[Example], list[Example]]
"""(base training set, validation, gate, traffic, held-out test)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentSpec:
    """One deployment: the task, how its weak model is built, how its traffic is replayed, and its targets."""

    name: str
    task: str
    dataset: str
    """The dataset's path, absolute or under the datasets folder (split by :func:`streams.bench.tasks.load_splits`)."""
    weak: WeakModelRecipe = WeakModelRecipe()
    traffic: int | None = None
    """Requests replayed by default (from the training split, never the test split; None: all of it)."""
    rate: float = 12.0
    """Requests per second."""
    batch: int = 12
    """Requests per ``/v1/predict/batch`` call."""
    label_delay: float = 2.0
    lockstep: bool = False
    """Hold the traffic while a retrain request waits or trains and while the monitor lags (see
    :mod:`streams.bench.pacing`): a run then no longer depends on how fast the machine is."""
    settle: float = 120.0
    """Seconds of quiet (no training, no new request) after the traffic before measuring."""
    deadline: float = 3600.0
    target_before: float | None = None
    target_after: float | None = None
    """The preset's targets; without them the final version must end within ``CEILING_GAP`` of the ceiling."""

    @property
    def recipe(self) -> str:
        """How the weak model is built, in words (goes into the report)."""
        return f"{FAMILIES[self.task]}; {self.weak.describe(self.task)}"

    def load(self, datasets: Path, seed: int) -> Loaded:
        train, pool, test = load_splits(datasets / self.dataset, self.task, seed)
        return (*weak_model(train, pool, self.task, self.weak, seed), test)

    def config(self) -> BaseTrainConfig:
        from pioneer.training import ClassificationConfig, EntityExtractionConfig

        if self.task == "classification":
            # Hashed character n-grams beside the embedding: the frozen encoder's head tops out at 95.5% on all
            # 15,000 CLINC150 training queries, 96.2% with them.
            return ClassificationConfig(strategy="head", char_ngrams=16384, progress_bar=False)
        return EntityExtractionConfig(epochs=2.0, progress_bar=False)


CEILING_GAP = 0.02
"""How far below the offline refit on all the labelled traffic it saw a deployment may end."""

FAMILIES = {
    "classification": "classification head (logistic regression on frozen all-MiniLM-L6-v2 embeddings and hashed "
                      "character 2-5-grams)",
    "entity_extraction": "BIO tagger (all-MiniLM-L6-v2 + casing features), 2 epochs",
}


@dataclass
class DeploymentResult:
    spec: str
    metric_name: str
    before: float
    after: float
    first_version: str
    final_version: str
    figures: dict[str, Any]
    report: Path
    wall_seconds: float


# ---------------------------------------------------------------------------------------------- the presets

# Each weak model fails where a real deployment's would (intents added late with few examples); docs/benchmarks.md
# has their test figures.
DEPLOYMENTS: dict[str, DeploymentSpec] = {
    "clinc150": DeploymentSpec(name="clinc150", task="classification", dataset="clinc150", traffic=13660,
                               target_before=0.85, target_after=0.95),
    "conll2003": DeploymentSpec(name="conll2003", task="entity_extraction", dataset="conll2003", traffic=4500,
                                rate=2.5, batch=8, target_before=0.35, target_after=0.85, deadline=7200.0,
                                settle=240.0),
}


def dataset_deployment(path: Path, task: str, *, weak: WeakModelRecipe = WeakModelRecipe(),
                       **replay: Any) -> DeploymentSpec:
    """A deployment of any labelled dataset (file or folder); ``replay`` sets rate, batch, traffic, deadline."""
    name = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "dataset"
    defaults = {"rate": 2.5, "batch": 8, "deadline": 7200.0, "settle": 240.0} if task == "entity_extraction" else {}
    return DeploymentSpec(name=name, task=task, dataset=str(path.resolve()), weak=weak, **{**defaults, **replay})


# ---------------------------------------------------------------------------------------------- the run


def run_deployment(
    spec: DeploymentSpec,
    *,
    out: Path,
    datasets: Path,
    seed: int = 0,
    traffic: int | None = None,
    deadline: float | None = None,
    say: Callable[[str], None] = print,
    machine: str = "",
    command: str | None = None,
) -> DeploymentResult:
    """Run one deployment end to end and write its report; everything it starts, it stops."""
    from pioneer.registry import FileRegistry

    started = time.monotonic()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    try:
        base, validation, gate, stream, test = spec.load(datasets, seed)
    except (ValueError, OSError) as exc:  # the dataset's owner must fix it; nothing has started yet
        raise ConfigError(f"{spec.dataset}: cannot be deployed: {exc}") from exc
    stream = stream[: traffic or spec.traffic or len(stream)]
    loads: list[float] = []
    previous = _sigterm_as_interrupt()
    stack = LoopStack(out)
    try:
        say("[1/6] starting the embedded broker…")
        settings = stack.start_broker()
        say(f"[2/6] training the weak model: {spec.recipe}")
        registry = FileRegistry(out / "registry")
        first = _train_first(spec, registry, base, validation, gate)
        say(f"      production = {first[:22]}")
        say("[3/6] starting the server, the monitor and the trainer…")
        from streams.brokers import free_port

        metrics_port = free_port() if spec.lockstep else None  # lockstep follows the monitor through its metrics
        base_url = stack.start_loop(spec.name, say, monitor_metrics_port=metrics_port)
        monitor = None if metrics_port is None else MonitorProgress(f"http://127.0.0.1:{metrics_port}/metrics",
                                                                    settings.topic("labeled_trace"))
        say(f"[4/6] replaying {len(stream)} requests at {spec.rate:g}/s with labels {spec.label_delay:g}s later"
            + (" in lockstep with the monitor and the trainer" if spec.lockstep else ""))
        state, observed, pacer = asyncio.run(
            _drive(spec, stream, settings, base_url, stack.processes, say, deadline or spec.deadline, loads, monitor)
        )
        final = state.releases[-1].model.version if state.releases else first
        say("[5/6] scoring the first and the final version on the full test set…")
        figures = _measure(spec, registry, first, final, test, observed, state)
        figures["longest_stall_seconds"] = longest_stall(state.answers, state.milestones)
        figures["pace"] = {"lockstep": spec.lockstep, "held_seconds": round(pacer.held, 1),
                           "held_for_monitor_seconds": round(pacer.held_for_monitor, 1),
                           "answered_while_retraining": answered_while_busy(state.answers, state.milestones)}
        say("      refitting the same model family offline on all the labelled traffic it saw (the ceiling)…")
        figures["ceiling"] = _ceiling(spec, base + stream[: figures["requests_answered"]], validation, test)
        figures["wall_seconds"] = round(time.monotonic() - started, 1)
        figures["load_average_1min"] = _load_summary(loads)
        figures["monitor_settings"] = {k: v for k, v in sorted(stack.env.items())
                                       if k.startswith(("PIONEER_MONITOR_", "PIONEER_TRAINER_"))}
        say("[6/6] writing the report…")
        report = _report(out, spec, state, first, final, figures, machine, len(stream), len(base),
                         command or f"pioneer bench deployment {spec.name}")
        return DeploymentResult(spec.name, figures["metric_name"], figures["before"], figures["after"], first, final,
                                figures, report, time.monotonic() - started)
    finally:
        if previous is not None:  # a second SIGTERM must not cut the clean-up short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _sigterm_as_interrupt() -> Any:
    """Make SIGTERM (a CI timeout, ``kill``) end the run as Ctrl-C does, so that the ``finally`` of
    :func:`run_deployment` stops the server, monitor, trainer and broker instead of orphaning them.
    Returns the previous handler, or None where no handler can be set (not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, interrupt)


def _load_summary(loads: Sequence[float]) -> dict[str, float | int | None]:
    """The 1-minute load average sampled during the replay: timings on a shared CPU mean little without it."""
    if not loads:
        return {"samples": 0, "min": None, "mean": None, "max": None}
    return {"samples": len(loads), "min": round(min(loads), 2), "mean": round(sum(loads) / len(loads), 2),
            "max": round(max(loads), 2)}


def _train_first(spec: DeploymentSpec, registry, base, validation, gate) -> str:
    from pioneer.gates import RegressionGate
    from pioneer.retrain import train_first_version

    decision = train_first_version(
        spec.name, spec.task, base, validation=validation, gate_set=gate, registry=registry, config=spec.config(),
        gate=RegressionGate(metric_floor=0.0),
    )
    if decision.version is None or not decision.released:
        raise RuntimeError(f"the weak model was not released: {decision.outcome}")
    return decision.version



# ---------------------------------------------------------------------------------------------- traffic


def _ceiling(spec: DeploymentSpec, seen: list[Example], validation: list[Example], test: list[Example]) -> float:
    """The test metric of the weak model's family fitted at once on everything labelled it saw: what the loop
    could reach if it retrained on all of it."""
    from pioneer.training import adapter_for

    return adapter_for(spec.task, spec.config()).fit(seen, validation=validation).evaluate(test).metric


def _truth(spec: DeploymentSpec, example: Example) -> dict[str, Any]:
    if spec.task == "classification":
        return {"label": example.label}
    return {"spans": [{"start": s.start, "end": s.end, "label": s.label, "text": s.text} for s in example.spans or ()]}


def _correct(spec: DeploymentSpec, example: Example, prediction: dict[str, Any]) -> bool:
    spans = [Span(start=s["start"], end=s["end"], label=s["label"]) for s in prediction.get("spans") or []]
    answer = Output(label=prediction.get("label"), spans=spans)
    return judge(spec.task, answer, example.expected(), text=example.text) is None


async def _drive(spec, stream, settings, base_url, processes, say, deadline: float, loads: list[float],
                 monitor: MonitorProgress | None) -> tuple[LiveState, dict, ReplayPacer]:
    """Replay ``stream`` at the spec's rate; then wait for the loop to settle. Returns the live state, the
    traffic failures observed (request id -> example) and the pacer (how long it held the traffic)."""
    state = LiveState()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_events(settings, state, stop))
    observed: dict[str, Example] = {}
    pending: set[asyncio.Task] = set()
    last_status = 0.0
    # Two batches of slack: the labels of the last one may still be on their way through the join.
    pacer = ReplayPacer(state, spec.rate, lockstep=spec.lockstep, monitor=monitor, slack=2 * spec.batch)

    def while_held() -> None:
        nonlocal last_status
        if state.now() - last_status >= 15.0:
            last_status = state.now()
            say("      " + _status(state, start, len(stream)) + "  (traffic held)")
            _check_alive(processes)

    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        for start in range(0, len(stream), spec.batch):
            batch = stream[start : start + spec.batch]
            at = await pacer.turn(start, until=deadline, while_held=while_held)
            task = asyncio.create_task(_ask(spec, client, state, batch, start, observed, at=at))
            pending.add(task)
            task.add_done_callback(pending.discard)
            if state.now() - last_status >= 15.0:
                last_status = state.now()
                loads.append(os.getloadavg()[0])
                say("      " + _status(state, start, len(stream)))
                _check_alive(processes)
            if state.now() > deadline:
                say("      deadline reached; stopping the traffic")
                break
        await asyncio.gather(*pending, return_exceptions=True)
        loads.append(os.getloadavg()[0])  # at least one sample, however short the replay
        say(f"      traffic done at t={state.now():.0f}s; waiting for the loop to settle")
        quiet_since = state.now()
        seen = (len(state.requests), len(state.releases), len(state.rejections))
        while state.now() < deadline:
            await asyncio.sleep(5.0)
            now_seen = (len(state.requests), len(state.releases), len(state.rejections))
            stage = state.progress.stage if state.progress is not None else "released"
            busy = stage not in ("released", "rejected", "failed")
            if now_seen != seen or busy:
                seen, quiet_since = now_seen, state.now()
            if state.now() - quiet_since >= spec.settle:
                break
            if int(state.now()) % 30 < 5:
                loads.append(os.getloadavg()[0])
                say("      " + _status(state, len(stream), len(stream)))
    stop.set()
    await watcher
    return state, observed, pacer


def _check_alive(processes) -> None:
    for process in processes:
        if not process.alive():
            raise RuntimeError(f"the {process.name} exited:\n{process.tail()}")


async def _ask(spec, client: httpx.AsyncClient, state: LiveState, batch: Sequence[Example], offset: int,
               observed: dict[str, Example], *, at: float) -> None:
    ids = [f"{spec.name}-{offset + i}" for i in range(len(batch))]
    body = {"inputs": [{"text": e.text, "request_id": rid} for e, rid in zip(batch, ids, strict=True)]}
    try:
        response = await client.post("/v1/predict/batch", json=body)
        response.raise_for_status()
    except httpx.HTTPError:
        state.errors += len(batch)
        return
    payload = response.json()
    version = payload["model"]["version"]
    for example, rid, result in zip(batch, ids, payload["results"], strict=True):
        ok = _correct(spec, example, result["prediction"])
        state.answers.append(Answer(at=at, segment="traffic", correct=ok, version=version))
        if not ok:
            observed[rid] = example
    await asyncio.sleep(spec.label_delay)
    for example, rid in zip(batch, ids, strict=True):
        await send_label(client, state, {"request_id": rid, "source": "human", **_truth(spec, example)})


def _status(state: LiveState, sent: int, total: int) -> str:
    recent = [a for a in state.answers if a.at >= state.now() - 30]
    fail = 1 - sum(a.correct for a in recent) / len(recent) if recent else 0.0
    training = "idle"
    if state.progress is not None:
        p = state.progress
        training = p.stage + (f" it{p.iteration}" if p.iteration is not None else "")
    return (f"t={state.now():5.0f}s sent {sent}/{total}  failure rate (30 s) {100 * fail:4.1f}%  patterns "
            f"{len(state.patterns)}  requests {len(state.requests)} ({training})  releases {len(state.releases)}  "
            f"rejections {len(state.rejections)}")


# ---------------------------------------------------------------------------------------------- results


def _measure(spec, registry, first: str, final: str, test, observed: dict[str, Example], state: LiveState) -> dict:
    versions = [release.model.version for release in state.releases]
    chain = [first, *versions]
    scored: dict[str, Any] = {}
    for version in dict.fromkeys(chain):  # each version scored once, one model in memory at a time
        model = registry.load_adapter(spec.name, version)
        scored[version] = model.evaluate(test)
        if version == final:
            final_model = model
    before, after = scored[first], scored[final]
    b, a = before.correct_by_id(), after.correct_by_id()
    unique = list({e.text: e for e in observed.values()}.values())
    still = final_model.evaluate(unique) if unique else None
    releases = release_rows(state.releases, first, scored)
    return {
        "metric_name": before.metric_name,
        "before": before.metric,
        "after": after.metric,
        "test_examples": len(test),
        "fixed": sum(1 for i in a if a[i] and not b[i]),
        "negative_flips": sum(1 for i in a if b[i] and not a[i]),
        "previously_correct": sum(b.values()),
        "previously_correct_kept": sum(1 for i in a if b[i] and a[i]),
        "observed_failures": len(unique),
        "observed_failures_remaining": None if still is None else sum(1 for ok in still.correct if not ok),
        "retrain_requests": len(state.requests),
        "releases": len(state.releases),
        "rejections": len(state.rejections),
        "release_details": releases,
        "test_negative_flips_per_release": [r["test_negative_flips"] for r in releases],
        "versions": chain,
        "rejection_reasons": [r.reason for r in state.rejections],
        "requests_answered": len(state.answers),
        "answered_before_first_request": _answered_before_first_request(state),
        # The live failure rate under each end of the chain: what users saw before and after.
        "traffic_failure_rate_first": _rate([a.correct for a in state.answers if a.version == first]),
        "traffic_failure_rate_final": _rate([a.correct for a in state.answers if a.version == final]),
        "failed_requests": state.errors,
        "labels_sent": state.labels_sent,
        "labels_failed": state.labels_failed,
    }


def _answered_before_first_request(state: LiveState) -> int | None:
    """How much traffic the loop saw before it first asked for a retrain (None: it never asked)."""
    asked = [m.at for m in state.milestones if m.label == "retrain requested"]
    return None if not asked else sum(1 for a in state.answers if a.at < min(asked))


def _rate(correct: Sequence[bool]) -> float | None:
    return None if not correct else round(1 - sum(correct) / len(correct), 4)


def _report(out: Path, spec: DeploymentSpec, state: LiveState, first: str, final: str, figures: dict,
            machine: str, n_traffic: int, n_base: int, command: str) -> Path:
    directory = out / "report"
    directory.mkdir(parents=True, exist_ok=True)
    _report_plots(directory, spec, state, figures)
    details = figures["release_details"]
    lines = [
        f"# Production-style deployment: {spec.name}",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}  ",
        f"Wall time: {figures['wall_seconds']:.0f} s  ",
        f"Load average (1 min) during the replay: {_load_text(figures.get('load_average_1min'))}",
        "",
        f"Weak model: {spec.recipe} ({n_base} examples). Traffic: {n_traffic} requests from the training split "
        f"(seeded order) at {spec.rate:g} requests/s, labels {spec.label_delay:g} s later, through the server's "
        "HTTP API, the embedded broker, the monitor and the trainer as separate processes."
        + _pace_text(figures.get("pace")),
        "",
        table(["measure", "weak model", "final", "target", "status"], _target_rows(spec, figures)),
        "",
        table(["figure", "value"], _figure_rows(figures)),
        "",
        "![failure rate](failure-rate.png)",
        "",
        "![before and after](before-after.png)",
        "",
        *(["## Releases", "", flips_table(details, figures["metric_name"]), "",
           "![negative flips per release](flips-per-release.png)", ""] if details else []),
        "## What happened",
        "",
        *_happened_lines(state, figures),
    ]
    settings = figures["monitor_settings"]
    lines += ["", "## Settings that differ from the product's defaults", "",
              table(["variable", "value"], [[k, v] for k, v in settings.items()]) if settings
              else "None: the server, the monitor and the trainer ran with their defaults.", ""]
    path = directory / "deployment-report.md"
    path.write_text("\n".join(lines) + "\n")
    (directory / "deployment-results.json").write_text(json.dumps(
        {"spec": spec.name, "recipe": spec.recipe, "machine": machine, "first_version": first,
         "final_version": final, "command": command, "traffic": n_traffic, "rate": spec.rate,
         **figures}, indent=2, default=float))
    return path


def _report_plots(directory: Path, spec: DeploymentSpec, state: LiveState, figures: dict) -> None:
    """The live failure rate, the test metric before and after, and the flips per release."""
    markers = [(m.at, m.label) for m in state.milestones if m.label.startswith("released")]
    timeline(directory / "failure-rate.png", {"traffic": rolling(state.answers, "traffic", window=60.0, step=10.0)},
             title="Failure rate of the live traffic (60 s window)", xlabel="seconds", ylabel="failure rate",
             markers=markers, ylim=(0.0, max(0.3, 1.2 * (1 - figures["before"]))))
    grouped_bars(directory / "before-after.png", [f"test {figures['metric_name']}"],
                 {"weak model": [figures["before"]], "final": [figures["after"]]},
                 title=f"{spec.name}: full test set", ylabel=figures["metric_name"])
    details = figures["release_details"]
    if details:
        flips_plot(directory / "flips-per-release.png", details, f"{spec.name}: negative flips per release",
                   held_out="full test set")


def _target_rows(spec: DeploymentSpec, figures: dict) -> list[list[str]]:
    """The test metric of the weak and the final model against the preset's targets (or the ceiling)."""
    before_target = "-" if spec.target_before is None else f"≤ {spec.target_before}"
    after_target = spec.target_after if spec.target_after is not None else figures["ceiling"] - CEILING_GAP
    met_before = spec.target_before is None or figures["before"] <= spec.target_before
    met_after = figures["after"] >= after_target
    return [
        ["test " + figures["metric_name"], f"{figures['before']:.4f}", f"{figures['after']:.4f}",
         f"{before_target} / ≥ {after_target:.4f}" + ("" if spec.target_after is not None else " (ceiling − 0.02)"),
         f"{'met' if met_before else 'missed'} / {'met' if met_after else 'missed'}"],
    ]


def _figure_rows(figures: dict) -> list[list[Any]]:
    """Every figure of the run, one row each."""
    details = figures["release_details"]
    return [
        ["test examples", figures["test_examples"]],
        ["fixed on test (wrong before, right after)", figures["fixed"]],
        ["negative flips on test (right before, wrong after)", figures["negative_flips"]],
        ["previously correct kept", f"{figures['previously_correct_kept']} of {figures['previously_correct']}"],
        ["failures observed in traffic (distinct inputs)", figures["observed_failures"]],
        ["... still failing with the final version", figures["observed_failures_remaining"]],
        ["retrain requests / releases / rejections",
         f"{figures['retrain_requests']} / {figures['releases']} / {figures['rejections']}"],
        ["negative flips per release on its gate set",
         ", ".join(count(r["gate_negative_flips"]) for r in details) or "-"],
        ["negative flips per release on R (of its size; 95% bound on the rate)",
         ", ".join(r_flips(r) for r in details) or "-"],
        ["observed failures trained on per release (pattern gold + coverage)",
         ", ".join(f"{count(r['gold_examples'])} + {count(r['coverage_examples'])}" for r in details) or "-"],
        ["negative flips per release on the test set",
         ", ".join(map(str, figures["test_negative_flips_per_release"])) or "-"],
        ["live failure rate of the traffic: first version / final version",
         " / ".join("-" if r is None else f"{100 * r:.1f}%"
                    for r in (figures["traffic_failure_rate_first"], figures["traffic_failure_rate_final"]))],
        ["requests answered / failed", f"{figures['requests_answered']} / {figures['failed_requests']}"],
        ["labels accepted / refused by the server", f"{figures['labels_sent']} / {figures['labels_failed']}"],
        ["requests answered before the first retrain request", count(figures["answered_before_first_request"])],
        [f"ceiling: the same family refit offline on all {figures['requests_answered']} labelled requests "
         f"(+ base), test {figures['metric_name']}", f"{figures['ceiling']:.4f}"],
        ["longest stall: traffic > 5% failing (60 s window) with no retrain requested or running",
         f"{figures['longest_stall_seconds']:.0f} s"],
        ["requests answered while a retrain request waited or trained",
         figures.get("pace", {}).get("answered_while_retraining", "-")],
    ]


def _happened_lines(state: LiveState, figures: dict) -> list[str]:
    """The milestones in time order, then why nothing was requested or what was rejected."""
    lines = [*[f"- t={m.at:.0f}s: {m.label}" for m in sorted(state.milestones, key=lambda m: m.at)], ""]
    if not figures["retrain_requests"]:
        lines += ["- no retrain request: no failure cluster became an emerging pattern (see logs/monitor.log)"
                  + _lift_note(figures["traffic_failure_rate_first"])]
    for rejection in state.rejections:
        lines += [f"- rejected {rejection.model.version[:14] if rejection.model.version else '-'}: {rejection.reason}"]
    return lines


def _pace_text(pace: dict[str, Any] | None) -> str:
    if not pace or not pace["lockstep"]:
        return " The traffic ran on while the trainer trained (real time)."
    return (" Lockstep: the traffic was held while a retrain request waited or trained and while the monitor lagged "
            f"({pace['held_seconds']:.0f} s in all, {pace['held_for_monitor_seconds']:.0f} s of them for the "
            "monitor), as if the loop kept up with its rate.")


def _load_text(load: dict[str, Any] | None) -> str:
    if not load or not load.get("samples"):
        return "not sampled"
    return f"mean {load['mean']:.2f} (min {load['min']:.2f}, max {load['max']:.2f}, {load['samples']} samples)"


def _lift_note(failure_rate: float | None) -> str:
    """Why no pattern emerged: a cluster must fail clearly more often than the traffic, unless all traffic fails."""
    from pioneer.trigger import EmergingPatternDetector

    if failure_rate is None:
        return ""
    detector = EmergingPatternDetector()
    needed = detector.min_lift * failure_rate
    broad = detector.broad_failure_rate
    return (f"; the detector needs a cluster's failure-rate lower bound above {detector.min_lift:g} × the traffic's "
            f"{100 * failure_rate:.1f}% = {100 * needed:.1f}%, unless the traffic's own rate surely exceeds "
            f"{100 * (broad or 1.0):.0f}%")
