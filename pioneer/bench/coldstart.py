"""Cold-start benchmark tasks built from ``../shared/datasets``, and the figures that judge a cold start.

:func:`clinc_domain_task` turns one CLINC150 domain into what a user would bring: a description, the label
names, ``per_label`` labelled examples per intent, the rest of the domain's training texts unlabelled, and the
gold labels a :class:`~pioneer.coldstart.SimulatedTeacher` answers from. Its test split is the reported figure;
:func:`full_data_ceiling` trains the same model on the domain's full labelled training split.
:func:`entity_task` does the same for Restaurant-8k slot filling and CoNLL-2003 entities, and
:func:`arithmetic_task` for the project's arithmetic word problems (generation, answers checked).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pioneer.events import Span
from pioneer.training.base import Example


@dataclass(frozen=True, slots=True, kw_only=True)
class ColdStartTask:
    name: str
    description: str
    labels: tuple[str, ...]
    examples: tuple[Example, ...]
    unlabeled: tuple[str, ...]
    gold: dict[str, str | tuple[Span, ...]]
    """Text -> label (or spans) of every training text (what the simulated teacher answers from)."""
    train: tuple[Example, ...]
    """The full labelled training split (the ceiling trains on it)."""
    test: tuple[Example, ...]
    kind: str = "classification"
    checker: str | None = None
    """Generation: the ``--checker`` that filters the teacher's answers."""


def clinc_domain_task(datasets: Path, domain: str, *, per_label: int = 5, seed: int = 0) -> ColdStartTask:
    """One CLINC150 domain as a cold-start task (``per_label`` examples per intent; 0 gives none)."""
    from pioneer.data.clinc150 import load_clinc150

    root = datasets / "clinc150"
    domains = json.loads((root / "domains.json").read_text(encoding="utf-8"))
    if domain not in domains:
        raise ValueError(f"domain {domain!r} is not in CLINC150; use one of {', '.join(domains)}")
    intents = tuple(domains[domain])
    train = [e for e in load_clinc150(root, "train") if e.label in intents]
    test = [e for e in load_clinc150(root, "test") if e.label in intents]
    chosen: list[Example] = []
    for intent in intents:
        rows = sorted((e for e in train if e.label == intent),
                      key=lambda e: hashlib.sha256(f"{seed}:{e.id}".encode()).hexdigest())
        chosen += rows[:per_label]
    chosen_ids = {e.id for e in chosen}
    return ColdStartTask(
        name=f"clinc150/{domain}",
        description=f"Classify a user's request to a voice assistant about {domain.replace('_', ' ')} into one of "
        "its intents.",
        labels=intents,
        examples=tuple(chosen),
        unlabeled=tuple(e.text for e in train if e.id not in chosen_ids),
        gold={e.text: str(e.label) for e in train},
        train=tuple(train),
        test=tuple(test),
    )


ENTITY_TASKS = {
    "restaurant8k": (
        ("Fill the slots of a restaurant booking request: extract the date, time, number of people, first name and "
        "last name it mentions."),
        ("date", "first_name", "last_name", "people", "time"),
    ),
    "conll2003": (
        ("Extract the named entities from a news sentence: people (PER), organisations (ORG), locations (LOC) and "
        "other names (MISC)."),
        ("LOC", "MISC", "ORG", "PER"),
    ),
}


def entity_task(datasets: Path, name: str, *, examples: int = 20, pool: int = 400, test: int = 300,
                seed: int = 0) -> ColdStartTask:
    """Restaurant-8k slot filling or CoNLL-2003 entities as a cold-start task: ``examples`` labelled sentences,
    ``pool`` more unlabelled, ``test`` test sentences (each drawn by a seeded hash). Its training split, which
    the ceiling trains on, is those ``examples + pool`` sentences with their gold labels: a CPU cannot fine-tune
    a tagger on all 14,041 CoNLL sentences in a bench."""
    from pioneer.data import load_conll, load_span_json

    if name not in ENTITY_TASKS:
        raise ValueError(f"entity task {name!r} is not known; use one of {', '.join(ENTITY_TASKS)}")
    if name == "restaurant8k":
        train_all = load_span_json(datasets / "restaurant8k" / "train_0.json")
        test_all = load_span_json(datasets / "restaurant8k" / "test.json")
    else:
        train_all = load_conll(datasets / "conll2003" / "train.txt")
        test_all = load_conll(datasets / "conll2003" / "test.txt")
    train = _distinct(_shuffled(train_all, seed))[: examples + pool]
    description, types = ENTITY_TASKS[name]
    return ColdStartTask(
        name=name, description=description, labels=types, examples=tuple(train[:examples]),
        unlabeled=tuple(e.text for e in train[examples:]), gold={e.text: tuple(e.spans or ()) for e in train},
        train=tuple(train), test=tuple(_shuffled(test_all, seed)[:test]), kind="entity_extraction",
    )


ARITHMETIC_DESCRIPTION = "Solve the arithmetic word problem: write the sum, then the final number."


def arithmetic_task(*, examples: int = 10, pool: int = 120, test: int = 60, largest: int = 20,
                    seed: int = 0) -> ColdStartTask:
    """The project's arithmetic word problems as a generation cold start: ``examples`` worked problems from the
    user ("3 + 4 = 7"), ``pool`` more unanswered, ``test`` fresh ones; the simulated teacher answers with the
    worked answer and the ``numeric:arithmetic`` checker recomputes each from the problem's text. Its training
    split, which the ceiling trains on, is the ``examples + pool`` problems with their worked answers."""
    from pioneer.synthetic.arithmetic import ArithmeticTask

    generator = ArithmeticTask(seed=seed, largest=largest)

    def worked(problems, stream: str) -> list[Example]:
        return [Example(text=p.text, id=f"arith:{stream}:{k}", target=f"{p.a} {p.op} {p.b} = {p.answer}")
                for k, p in enumerate(problems)]

    train = _distinct(worked(generator.problems(4 * (examples + pool), stream="coldstart"), "coldstart"))
    train = train[: examples + pool]
    seen = {e.text for e in train}
    tests = [e for e in _distinct(worked(generator.problems(4 * test, stream="test"), "test")) if e.text not in seen]
    return ColdStartTask(
        name="arithmetic", description=ARITHMETIC_DESCRIPTION, labels=(), examples=tuple(train[:examples]),
        unlabeled=tuple(e.text for e in train[examples:]), gold={e.text: str(e.target) for e in train},
        train=tuple(train), test=tuple(tests[:test]), kind="generation", checker="numeric:arithmetic",
    )


def _shuffled(examples: list[Example], seed: int) -> list[Example]:
    return sorted(examples, key=lambda e: hashlib.sha256(f"{seed}:{e.id}".encode()).hexdigest())


def _distinct(examples: list[Example]) -> list[Example]:
    """One example per text (a repeated sentence could carry two labellings the teacher cannot both give)."""
    from pioneer.coldstart.sources import text_key

    seen: set[str] = set()
    out = []
    for example in examples:
        key = text_key(example.text)
        if key and key not in seen:
            seen.add(key)
            out.append(example)
    return out


def _default_adapter(kind: str, task: ColdStartTask | None = None, settings: Mapping | None = None):
    """The default model (with ``settings`` over its defaults); for generation with the settings cold start
    gives every candidate (system prompt, answer checker, answer length), so a comparison differs only in data
    and search."""
    from pioneer.training import adapter_for
    from pioneer.training.factory import config_for

    shared: dict = {}
    if task is not None and kind == "generation":
        from pioneer.coldstart.checking import checker_from_option
        from pioneer.coldstart.run import task_settings
        from pioneer.coldstart.sources import Sourced
        from pioneer.coldstart.task import analyse_task

        spec = analyse_task(task.description, kind=kind)
        items = [Sourced(e, "user") for e in task.train]
        shared = task_settings(spec, items, checker_from_option(task.checker) if task.checker else None)
    return adapter_for(kind, config_for(kind, {"progress_bar": False, **shared, **(settings or {})}))


def full_data_ceiling(task: ColdStartTask, config: object = None, settings: Mapping | None = None) -> float:
    """Test metric of the default model trained on the task's full labelled training split."""
    from pioneer.training import ClassificationAdapter, ClassificationConfig

    if task.kind != "classification":
        return _default_adapter(task.kind, task, settings).fit(list(task.train)).evaluate(list(task.test)).metric
    cfg = config if isinstance(config, ClassificationConfig) else ClassificationConfig(progress_bar=False)
    return ClassificationAdapter(cfg).fit(list(task.train)).evaluate(list(task.test)).metric


def write_task_files(task: ColdStartTask, directory: Path) -> dict[str, Path]:
    """The task as the files ``pioneer coldstart`` reads: examples.jsonl, unlabeled.txt, gold.jsonl."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in ("examples.jsonl", "unlabeled.txt", "gold.jsonl")}
    paths["examples.jsonl"].write_text(
        "".join(json.dumps({"id": e.id, "text": e.text, "label": e.label}) + "\n" for e in task.examples), "utf-8"
    )
    paths["unlabeled.txt"].write_text("".join(text.replace("\n", " ") + "\n" for text in task.unlabeled), "utf-8")
    paths["gold.jsonl"].write_text(
        "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in task.gold.items()), "utf-8"
    )
    return paths


def base_score(task: ColdStartTask, settings: Mapping | None = None) -> tuple[float, str]:
    """The base and what it is: zero-shot label-name similarity for classification; for entity extraction the
    tagger fitted on the user's examples alone (an untrained tagger tags at random: F1 0 by construction)."""
    if task.kind == "classification":
        return zero_shot_accuracy(task), "zero-shot"
    if task.kind == "generation":
        return _default_adapter(task.kind, task).use_base_model().evaluate(list(task.test)).metric, "base generator"
    if not task.examples:
        return 0.0, "untrained"
    fitted = _default_adapter(task.kind, settings=settings).fit(list(task.examples))
    return fitted.evaluate(list(task.test)).metric, "user examples only"


def zero_shot_accuracy(task: ColdStartTask) -> float:
    """The base: each test text gets the label whose name (underscores read as spaces) it is most similar to."""
    import numpy as np

    from pioneer.embedding import Embedder

    embedder = Embedder()
    names = embedder.encode([label.replace("_", " ") for label in task.labels])
    texts = embedder.encode([e.text for e in task.test])
    predicted = [task.labels[int(i)] for i in np.argmax(texts @ names.T, axis=1)]
    return sum(p == e.label for p, e in zip(predicted, task.test, strict=True)) / len(task.test)


def plain_fit_accuracy(task: ColdStartTask, acquired: list[Example], settings: Mapping | None = None) -> float:
    """A plain fit: the default model on everything cold start acquired (no search, no held-out set)."""
    return _default_adapter(task.kind, task, settings).fit(acquired).evaluate(list(task.test)).metric


def unchecked_answers(task: ColdStartTask, error_rate: float) -> list[Example]:
    """Generation: the user's examples and every answer the teacher gave, checked or not (what a plain fit
    trains on when no checker filters the teacher)."""
    from pioneer.coldstart import SimulatedTeacher
    from pioneer.coldstart.task import analyse_task

    teacher, spec = SimulatedTeacher(task.gold, error_rate=error_rate), analyse_task(task.description, kind=task.kind)
    return [*task.examples, *(Example(text=t, id=f"plain:{k}", target=teacher.classify(t, spec))
                              for k, t in enumerate(task.unlabeled))]


def run_cell(task: ColdStartTask, *, error_rate: float, budget_minutes: float, workdir: Path,
             settings: Mapping | None = None) -> dict:
    """One bench cell: cold start on ``task`` with a simulated teacher, then every comparison on its test split
    (``settings``: config values over the defaults, for cold start and every comparison alike)."""
    import time

    from pioneer.coldstart import SimulatedTeacher, run_coldstart
    from pioneer.coldstart.checking import checker_from_option
    from pioneer.registry import FileRegistry

    registry = FileRegistry(workdir / "registry")
    started = time.monotonic()
    result = run_coldstart(
        task.description, model="coldstart", registry=registry, workdir=workdir / "run", labels=task.labels,
        kind=task.kind, examples=task.examples, unlabeled=task.unlabeled,
        teacher=SimulatedTeacher(task.gold, error_rate=error_rate), budget_minutes=budget_minutes,
        check=checker_from_option(task.checker) if task.checker else None, settings=settings,
    )
    wall = time.monotonic() - started
    from pioneer.coldstart.report import write_report
    from pioneer.coldstart.sources import AcquiredStore

    write_report(result)
    version = registry.get_alias("coldstart", "production")
    cold = registry.load_adapter("coldstart", version).evaluate(list(task.test)).metric if version else None
    acquired = [i.example for i in AcquiredStore(workdir / "run" / "acquired.jsonl").items]
    if task.kind == "generation":
        acquired = unchecked_answers(task, error_rate)
    base, base_kind = base_score(task, settings)
    return {
        "task": task.name, "kind": task.kind, "metric": result.task.metric,
        "examples_per_label": len(task.examples) // max(1, len(task.labels)) if task.kind == "classification" else None,
        "examples": len(task.examples), "unlabeled": len(task.unlabeled),
        "teacher": result.teacher, "base_score": base, "base": base_kind,
        "plain_fit": plain_fit_accuracy(task, acquired, settings), "coldstart": cold,
        "ceiling": full_data_ceiling(task, settings=settings),
        "released": result.decision.released, "attempts": len(result.search.attempts),
        "stop": result.search.stop_reason, "wall_seconds": round(wall, 1),
        "report": str(workdir / "run" / "report.md"),
    }
