"""The demo: the whole loop on one machine, on a task Pioneer generates (or a dataset the user gives).

1. start the embedded broker and create the topics;
2. train a first model on data with a blind spot, register it, point ``production`` at it;
3. start the server, the monitor and the trainer (``pioneer serve|monitor|trainer``, each its own process);
4. replay traffic through the server's HTTP API and send each label a moment later through its feedback
   endpoint; partway through, requests start arriving the way the first model never saw;
5. watch the loop work (failures cluster, a pattern emerges, a retrain is requested, candidates train, the
   gate decides, a release is published, the server swaps) and print where it stands every few seconds;
6. keep the traffic going after the release, then measure before and after, online (the answers the
   traffic got) and offline (held-out sets), and write a report with plots.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from pioneer.events import Output
from pioneer.join.outcome import judge
from pioneer.reports import grouped_bars, percent, table, timeline
from pioneer.synthetic import DriftingTraffic
from streams.demo.live import Answer, LiveState, rolling, send_label, status_line, watch_events
from streams.demo.releases import flips_plot, flips_table, release_rows
from streams.demo.stack import LoopStack

log = logging.getLogger(__name__)
MODEL = "demo-intents"
JUDGE_MODEL = "demo-judge"
LABELLERS = ("human", "judge")


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    home: Path
    dataset: Path | None = None
    rate: float = 6.0
    drift_at: float = 40.0
    ramp: float = 45.0
    max_share: float = 0.4
    label_delay: float = 2.0
    after_release: float = 60.0
    deadline: float = 480.0
    """Seconds of traffic after which the demo stops even without a release."""
    seed: int = 0
    labels: str = "human"
    """Who labels the traffic: ``human`` (a simulated person sends each request's true label a moment later) or
    ``judge`` (nobody does: ``pioneer judge`` samples the logs and a teacher model labels them)."""
    judge_rate: float = 0.5
    """Judge mode: share of traffic the judge would like to see, before its call budget."""
    judge_per_second: float = 2.0
    """Judge mode: judge calls per second at most."""

    def __post_init__(self) -> None:
        if self.labels not in LABELLERS:
            raise ValueError(f"labels must be one of {', '.join(LABELLERS)}, got {self.labels!r}")
        if self.labels == "judge" and self.dataset is not None:
            raise ValueError("labels='judge' needs the generated task: its teacher is trained on the task's generator")


@dataclass
class DemoResult:
    state: LiveState
    first_version: str
    final_version: str | None
    offline: dict[str, dict[str, float]]
    report: Path
    wall_seconds: float


def run_demo(options: DemoOptions, say=print) -> DemoResult:
    """Run the demo end to end; returns what it measured. Everything it starts, it stops."""
    from pioneer.registry import FileRegistry

    started = time.monotonic()
    _quiet_model_loading()
    home = options.home
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    with LoopStack(home) as stack:
        say("[1/6] starting the embedded broker…")
        settings = stack.start_broker()
        say(f"      broker on {settings.bootstrap_servers}; topics created")

        say("[2/6] generating the task and training the first model…")
        task = _task(options)
        registry = FileRegistry(home / "registry")
        first = _train_first(task, registry)
        say(f"      production = {first[:22]}  (trained on {len(task.training_set())} examples, without the blind spot)")

        judge = None
        if options.labels == "judge":
            judge_version, taught = _train_judge(task, registry, options.seed)
            say(f"      judge = {JUDGE_MODEL} {judge_version[:22]}  (a teacher: {taught}); no human labels at all")
            judge = ["--local-model", JUDGE_MODEL, "--rate", str(options.judge_rate), "--per-second",
                     str(options.judge_per_second), "--concurrency", "1", "--batch", "50"]
        say("[3/6] starting the server, the monitor, the trainer" + (" and the judge…" if judge else "…"))
        base_url = stack.start_loop(MODEL, say, judge=judge)

        say("[4/6] replaying traffic; the blind spot appears at "
            f"t={options.drift_at:.0f}s and grows to {options.max_share:.0%} of requests")
        state = asyncio.run(_drive(options, task, settings, base_url, stack.processes, say))
        final = state.releases[-1].model.version if state.releases else None

        say("[5/6] measuring before and after on held-out data…")
        offline = _offline(task, registry, first, final)
        releases = _per_release(task, registry, state, first)
        say("[6/6] writing the report…")
        report = _report(home / "report", options, state, (first, final), offline, releases,
                         time.monotonic() - started)
        result = DemoResult(state, first, final, offline, report, time.monotonic() - started)
        _summary(result, say)
        return result


# ---------------------------------------------------------------------------------------------- set-up


def _task(options: DemoOptions):
    if options.dataset is None:
        from pioneer.synthetic import BankingTask

        return BankingTask(seed=options.seed)
    from pioneer.data import load_dataset
    from pioneer.synthetic.dataset_task import DatasetTask

    return DatasetTask(load_dataset(str(options.dataset), task="classification"), seed=options.seed)


def _train_first(task, registry) -> str:
    from pioneer.retrain import train_first_version
    from pioneer.training import ClassificationConfig

    train = task.training_set(30)
    evaluation = task.evaluation_set(15)
    half = len(evaluation) // 2
    decision = train_first_version(
        MODEL, "classification", train, validation=evaluation[:half], gate_set=evaluation[half:],
        registry=registry, config=ClassificationConfig(strategy="head"),
    )
    if decision.version is None or decision.outcome != "released":
        raise RuntimeError(f"the first model was not released: {decision.outcome}")
    return decision.version



def _train_judge(task, registry, seed: int) -> tuple[str, str]:
    """The judge's teacher: a larger model (character n-grams beside the embedding) trained on its own labelled
    pool, which holds half of the new ways of asking a transfer; the other half it must generalise to."""
    from pioneer.retrain import train_first_version
    from pioneer.synthetic.intents import BLIND_SPOT_TEMPLATES
    from pioneer.training import ClassificationConfig

    usual = task.usual(60 * len(task.labels), stream="judge-pool")
    known = BLIND_SPOT_TEMPLATES[: len(BLIND_SPOT_TEMPLATES) // 2]
    new = task.blind_spot(60, stream="judge-pool-new", templates=known)
    held = task.usual(10 * len(task.labels), stream="judge-eval")
    decision = train_first_version(
        JUDGE_MODEL, "classification", usual + new, validation=held[: len(held) // 2], gate_set=held[len(held) // 2:],
        registry=registry, config=ClassificationConfig(strategy="head", char_ngrams=16384),
    )
    if decision.version is None or decision.outcome != "released":
        raise RuntimeError(f"the judge model was not released: {decision.outcome}")
    return decision.version, (f"{len(usual)} usual requests and {len(new)} transfers asked {len(known)} of the "
                              f"{len(BLIND_SPOT_TEMPLATES)} new ways")


# ---------------------------------------------------------------------------------------------- traffic


async def _drive(options, task, settings, base_url, processes, say) -> LiveState:
    state = LiveState()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_events(settings, state, stop))
    plan = DriftingTraffic(task, rate=options.rate, drift_at=options.drift_at, ramp=options.ramp,
                           max_share=options.max_share, seed=options.seed)
    pending: set[asyncio.Task] = set()
    released_at: float | None = None
    last_status = 0.0
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        n = 0
        while True:
            (item,) = plan.take(1)
            delay = item.at - state.now()
            if delay > 0:
                await asyncio.sleep(delay)
            n += 1
            task_ = asyncio.create_task(_ask(client, state, item, f"demo-{n}",
                                             options.label_delay if options.labels == "human" else None))
            pending.add(task_)
            task_.add_done_callback(pending.discard)
            if state.now() - last_status >= 5.0:
                last_status = state.now()
                say("      " + status_line(state, options.rate))
                for process in processes:
                    if not process.alive():
                        raise RuntimeError(f"the {process.name} exited:\n{process.tail()}")
            if released_at is None and state.releases and _serving_new(state):
                released_at = state.now()
                say(f"      the server answers with {state.answers[-1].version[:22]} now; "
                    f"{options.after_release:.0f}s more traffic to measure")
            if released_at is not None and state.now() - released_at >= options.after_release:
                break
            if state.now() >= options.deadline:
                say("      deadline reached without a release; stopping the traffic")
                break
        await asyncio.gather(*pending, return_exceptions=True)
    stop.set()
    await watcher
    return state


def _serving_new(state: LiveState) -> bool:
    latest = state.releases[-1].model.version
    return bool(state.answers) and state.answers[-1].version == latest


async def _ask(client: httpx.AsyncClient, state: LiveState, item, request_id: str, label_delay: float | None) -> None:
    """Ask the server; then, unless ``label_delay`` is None (a judge labels instead), send the true label later."""
    at = state.now()
    try:
        response = await client.post("/v1/predict", json={"text": item.example.text, "request_id": request_id})
        response.raise_for_status()
    except httpx.HTTPError:
        state.errors += 1
        return
    body = response.json()
    predicted = body["prediction"]["label"]
    failed = judge("classification", Output(label=predicted), item.example.expected())
    state.answers.append(Answer(at=at, segment=item.segment, correct=failed is None,
                                version=body["model"]["version"], expected=item.example.label or "", predicted=predicted,
                                request_id=request_id))
    if label_delay is None:
        return
    await asyncio.sleep(label_delay)  # the label comes later, as a human's would
    await send_label(client, state, {"request_id": request_id, "label": item.example.label, "source": "human"})


# ---------------------------------------------------------------------------------------------- results


def _offline(task, registry, first: str, final: str | None) -> dict[str, dict[str, float]]:
    """Accuracy of the first and the final version on held-out usual requests and held-out blind-spot ones."""
    sets = {"usual (held out)": task.evaluation_set(15), "blind spot (held out)": task.blind_spot(200, stream="heldout")}
    versions = {"first": first} | ({"final": final} if final and final != first else {})
    return {name: {label: registry.load_adapter(MODEL, version).evaluate(examples).metric
                   for label, examples in sets.items()} for name, version in versions.items()}


def _per_release(task, registry, state: LiveState, first: str) -> list[dict]:
    """Each release's negative flips on the gate set and R (as its gate counted them) and on held-out usual
    requests (against the version it replaced), one model in memory at a time."""
    usual = task.evaluation_set(15)
    scored = {v: registry.load_adapter(MODEL, v).evaluate(usual)
              for v in dict.fromkeys([first, *(r.model.version for r in state.releases)])}
    return release_rows(state.releases, first, scored)


def _quiet_model_loading() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _phase_rates(state: LiveState, first: str, final: str | None, drift_at: float) -> list[list[object]]:
    rows = []
    for segment in ("usual", "blind_spot"):
        before = state.failure_rate(segment, since=drift_at if segment == "usual" else 0.0, version=first)
        after = state.failure_rate(segment, version=final) if final else None
        rows.append([segment.replace("_", " "), percent(before), percent(after)])
    return rows


def _report(directory: Path, options, state: LiveState, versions: tuple[str, str | None], offline,
            releases: list[dict], wall: float) -> Path:
    first, final = versions
    directory.mkdir(parents=True, exist_ok=True)
    markers = [(m.at, m.label) for m in state.milestones] + [(options.drift_at, "blind spot appears")]
    timeline(
        directory / "failure-rate.png",
        {segment.replace("_", " "): rolling(state.answers, segment, window=20.0) for segment in ("usual", "blind_spot")},
        title="Failure rate of live traffic (20 s window)", xlabel="seconds", ylabel="failure rate", markers=markers,
    )
    if "final" in offline:
        labels = list(offline["first"])
        grouped_bars(
            directory / "before-after.png", labels,
            {"first version": [offline["first"][k] for k in labels], "released version": [offline["final"][k] for k in labels]},
            title="Accuracy on held-out data", ylabel="accuracy",
        )
    lines = [
        "# Pioneer demo report",
        "",
        f"Wall time {wall:.0f}s. Model `{MODEL}`; first version `{first}`; released version `{final or 'none'}`.",
        "",
        "## Live traffic: failure rate by segment and serving version",
        "",
        table(["segment", "first version (after the drift)", "released version"], _phase_rates(state, first, final, options.drift_at)),
        "",
        "![failure rate](failure-rate.png)",
        "",
        "## Held-out accuracy",
        "",
        # Columns from every row: the final version's adds its negative flips, which the first has no value for.
        table(["version", *(columns := list(dict.fromkeys(k for values in offline.values() for k in values)))],
              [[name, *(values.get(c, "-") for c in columns)] for name, values in offline.items()]),
        "",
    ]
    if "final" in offline:
        lines += ["![before and after](before-after.png)", ""]
    if releases:
        flips_plot(directory / "flips-per-release.png", releases, "Negative flips per release",
                   held_out="usual requests")
        lines += ["## Releases: what each gate counted, and what held-out requests saw", "",
                  flips_table(releases, "accuracy", held_out="usual (held out)"), "",
                  "![negative flips per release](flips-per-release.png)", ""]
    lines += ["## What happened", ""] + [f"- t={m.at:.0f}s: {m.label}" for m in sorted(state.milestones, key=lambda m: m.at)]
    for release in state.releases:
        lines += ["", f"### Gate report of {release.model.version}", ""]
        lines += [table(["check", "passed", "observed", "threshold", "detail"],
                        [[c.name, c.passed, c.observed, c.threshold, c.detail] for c in release.gate_report.checks])]
    for rejection in state.rejections:
        lines += ["", f"### Rejected candidate {rejection.model.version}: {rejection.reason}"]
    if final:
        wrong = Counter((a.segment, a.expected, a.predicted) for a in state.answers if a.version == final and not a.correct)
        if wrong:
            lines += ["", "## What the released version still gets wrong in live traffic", "",
                      table(["segment", "expected", "predicted", "count"], [[*k, n] for k, n in wrong.most_common(10)])]
    if state.judged:
        lines += ["", "## The judge", "", (f"No human labels: {state.judge_accuracy().describe()}, scored "
                                           "against the hidden truth the loop never saw.")]
    lines += ["", f"{len(state.answers)} requests answered, {state.errors} failed requests; {state.labels_sent} "
              f"labels accepted, {state.labels_failed} refused.", ""]
    path = directory / "demo-report.md"
    path.write_text("\n".join(lines))
    return path


def _summary(result: DemoResult, say) -> None:
    state, offline = result.state, result.offline
    say("")
    say("=" * 78)
    say("Before / after")
    for segment, before, after in _phase_rates(state, result.first_version, result.final_version, 0.0):
        say(f"  live failure rate, {segment:10s}: {before:>7s} with the first version -> {after:>7s} after the release")
    for name, values in offline.items():
        say(f"  {name:6s} version: " + ", ".join(f"{k} {v:.3f}" if 'flips' not in k else f"{k} {v:.0f}" for k, v in values.items()))
    if state.judged:
        say(f"  {state.judge_accuracy().describe()} (against the hidden truth the loop never saw)")
    say(f"  releases {len(state.releases)}, rejections {len(state.rejections)}, "
        f"failed requests {state.errors}, wall time {result.wall_seconds:.0f}s")
    say(f"  report: {result.report}")
    say("=" * 78)
    sys.stdout.flush()
