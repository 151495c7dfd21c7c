"""``pioneer coldstart``: from a task description to a gated, registered ``production`` version."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import orjson

from pioneer.cli.options import BROKER, OUTPUT
from pioneer.cli.registry import REGISTRY, open_registry

KINDS = ("classification", "entity_extraction", "generation")


def read_unlabeled(path: Path) -> list[str]:
    """Texts, one per line (.txt), or the ``text`` field of JSON lines / CSV rows."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".csv", ".tsv"):
        from pioneer.data import load_dataset

        return [e.text for e in load_dataset(path)]
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class TerminalObserver:
    """A progress bar over teacher labelling, then one over the search with a live status line."""

    def __init__(self, budget_minutes: float) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.quiet = not sys.stderr.isatty()
        self.budget = budget_minutes * 60.0
        self.started_at = time.monotonic()
        self._bar = None
        self._search = None

    def _say(self, line: str) -> None:
        if self.quiet:
            click.echo(line, err=True)
        else:
            self._tqdm.write(line)

    def stage(self, message: str) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._say(f"[coldstart] {message}")

    def labelled(self, report, total: int) -> None:
        if self.quiet:
            return
        if self._bar is None:
            self._bar = self._tqdm(total=total, desc="teacher labelling", unit="text")
        self._bar.update(1)
        self._bar.set_postfix(labelled=report.labelled, unusable=report.garbage, rejected=report.rejected,
                              refresh=False)

    def started(self, proposal, n: int) -> None:
        elapsed = time.monotonic() - self.started_at
        status = f"candidate #{n} ({proposal[0]}: {proposal[1]}) | {elapsed:.0f}s of {self.budget:.0f}s budget"
        if self.quiet:
            return
        if self._search is None:
            self._search = self._tqdm(total=None, desc="search", unit="candidate", bar_format="{desc}: {n} {postfix}")
        self._search.set_postfix_str(status)

    def attempted(self, attempt, attempts) -> None:
        scores = [a.score for a in attempts if a.score is not None]
        score = "failed" if attempt.score is None else f"{attempt.score:.3f}"
        best = f"{max(scores):.3f}" if scores else "-"
        if self._search is not None:
            self._search.update(1)
            self._search.set_postfix_str(f"last {score} ({attempt.change}) | best {best}")
        if self.quiet:
            self._say(f"[coldstart] #{attempt.id} {attempt.change}: {score} in {attempt.seconds:.1f}s (best {best})")

    def close(self) -> None:
        for bar in (self._bar, self._search):
            if bar is not None:
                bar.close()


@click.command()
@click.argument("description")
@click.option("--model", "model", required=True, help="Model name in the registry.")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Task kind (default: inferred).")
@click.option("--labels", default=None, help="Label names, 'a, b, c' or 'a: what a means; b: ...'.")
@click.option("--examples", "examples_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="A few labelled examples (.jsonl or .csv with text and label).")
@click.option("--unlabeled", "unlabeled_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Texts of the task without labels (.txt one per line, .jsonl or .csv).")
@click.option("--from-logs", is_flag=True, default=False,
              help="Add the texts the model was asked (its inference logs on Kafka, see --broker) to the unlabelled "
              "pool the teacher labels.")
@click.option("--logs-model", default=None, help="Read another model's inference logs with --from-logs.")
@click.option("--logs-limit", type=click.IntRange(1), default=5000, show_default=True,
              help="At most this many distinct texts from the logs.")
@click.option("--datasets", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder of labelled corpora (.jsonl, .csv, .tsv; for entities also CoNLL files and span JSON) "
              "to search for the task's labels or entity types.")
@click.option("--teacher", default=None, metavar="URL#MODEL|simulated:FILE:RATE",
              help="Labels --unlabeled: an OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1#production, "
              "which `pioneer serve` exposes) or a simulated teacher answering from FILE's gold labels with RATE errors.")
@click.option("--teacher-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds per teacher request.")
@click.option("--synthesize", type=click.IntRange(0), default=0, show_default=True,
              help="Ask the teacher to write this many texts per label; for entities or generation, this many new "
              "inputs, each then labelled by the teacher (kept when --checker passes it); provenance synthetic, never "
              "evaluated on.")
@click.option("--teacher-limit", type=click.IntRange(1), default=None, help="Ask the teacher about at most N texts.")
@click.option("--checker", default=None, metavar="numeric:arithmetic|json:SCHEMA_FILE|regex:PATTERN",
              help="Generation: keep only the teacher answers this checker passes (the rest are journalled as rejected).")
@click.option("--budget", type=click.FloatRange(min=0.0), default=10.0, show_default=True,
              help="Minutes; the search starts no candidate after them.")
@click.option("--target", type=click.FloatRange(0.0, 1.0, min_open=True), default=None,
              help="Stop the search once a candidate's validation metric reaches this.")
@click.option("--strategies", default=None,
              help="Comma list of head, finetune, lora (default: head on CPU; head,finetune with a GPU).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Journal, frozen evaluation set, lineage and report (default: $PIONEER_HOME/coldstart/MODEL).")
@click.option("--eval-per-label", type=click.IntRange(2), default=10, show_default=True,
              help="Evaluation examples per label (half rank candidates, half gate the release).")
@click.option("--metric-floor", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Lowest gate metric the first version may have.")
@click.option("--seed", type=int, default=0, show_default=True)
@BROKER
@REGISTRY
@OUTPUT
def coldstart(description: str, model: str, kind: str | None, labels: str | None, examples_file: Path | None,
              unlabeled_file: Path | None, from_logs: bool, logs_model: str | None, logs_limit: int,
              datasets: Path | None, teacher: str | None, teacher_timeout: float, synthesize: int, teacher_limit: int | None,
              checker: str | None, budget: float, target: float | None, strategies: str | None, workdir: Path | None,
              eval_per_label: int, metric_floor: float, seed: int, broker: str, registry_dir: str | None,
              output: str) -> None:
    """Build a first model from DESCRIPTION: analyse the task, acquire data, freeze an evaluation set, search
    data x hyperparameters x strategy, gate the best and register it as production.

    Exits non-zero if the gate rejects the model or the inputs cannot make a task.
    """
    from pioneer.coldstart import run_coldstart, teacher_from_option
    from pioneer.coldstart.checking import checker_from_option
    from pioneer.coldstart.report import write_report
    from pioneer.data import load_dataset
    from pioneer.errors import PioneerError
    from pioneer.settings import Paths

    observer = TerminalObserver(budget)
    try:
        unlabeled = read_unlabeled(unlabeled_file) if unlabeled_file else []
        if from_logs:
            unlabeled += _log_texts(broker, logs_model or model, logs_limit, observer)
        result = run_coldstart(
            description, model=model, registry=open_registry(registry_dir),
            workdir=workdir or Paths.from_env().home / "coldstart" / model, kind=kind, labels=labels,
            examples=load_dataset(examples_file) if examples_file else (),
            unlabeled=unlabeled, datasets=datasets,
            teacher=teacher_from_option(teacher, timeout=teacher_timeout) if teacher else None,
            teacher_limit=teacher_limit, synthesize_per_label=synthesize, budget_minutes=budget, target=target,
            strategies=_strategies(strategies), eval_per_label=eval_per_label, metric_floor=metric_floor,
            seed=seed, observer=observer, check=checker_from_option(checker) if checker else None,
        )
    except (PioneerError, ValueError, FileNotFoundError) as exc:  # what the user must fix, in one line
        raise click.ClickException(str(exc)) from None
    finally:
        observer.close()
    report = write_report(result, target=target)
    _echo(result, report, output)
    if not result.decision.released:
        sys.exit(1)


def _log_texts(broker: str, model: str, limit: int, observer: TerminalObserver) -> list[str]:
    """The distinct texts ``model`` was asked, from its inference logs; a broker that cannot be read is an error
    that says so (nothing has been acquired yet)."""
    from aiokafka.errors import KafkaError

    from pioneer.errors import ConfigError
    from streams.inference_texts import inference_texts
    from streams.kafka import KafkaSettings

    try:
        found = inference_texts(KafkaSettings.from_env(broker), model, limit=limit)
    except (KafkaError, OSError, TimeoutError) as exc:  # an unreachable or refusing broker
        raise ConfigError(f"--from-logs: cannot read the inference logs from {broker}: {exc!r}") from exc
    observer.stage(f"{len(found.texts)} texts from {model}'s inference logs ({found.records} records read, "
                   f"{found.other_models} of other models, {found.undecodable} undecodable"
                   f"{'' if found.complete else ', stopped early'})")
    if not found.texts:
        raise ConfigError(f"--from-logs: no inference logs of model {model!r} on {broker}; serve it first, or pass "
                          "--logs-model NAME")
    return found.texts


def _strategies(value: str | None) -> tuple[str, ...]:
    if value:
        return tuple(s.strip() for s in value.split(",") if s.strip())
    import torch

    return ("head", "finetune") if torch.cuda.is_available() else ("head",)


def _echo(result, report: Path, output: str) -> None:
    decision = result.decision
    if output == "json":
        record = {
            "decision": decision.to_record("applied"), "report": str(report), "stop_reason": result.search.stop_reason,
            "lineage": [a.to_dict() for a in result.search.attempts], "eval_set": result.eval_set.hash,
            "provenance": {"acquired": result.acquired, "train": result.train_provenance,
                           "eval": result.eval_set.provenance()}, "teacher": result.teacher,
            "corpora": result.corpora,
        }
        click.echo(orjson.dumps(record, option=orjson.OPT_INDENT_2).decode())
        return
    verb = "released" if decision.released else "REJECTED"
    click.echo(f"{verb} {decision.model} {decision.version} after {len(result.search.attempts)} candidates "
               f"({result.search.stop_reason}) in {result.seconds:.0f}s")
    click.echo("  " + ", ".join(f"{k}={v:.4g}" for k, v in decision.metrics.items()))
    click.echo(f"  report: {report}")
