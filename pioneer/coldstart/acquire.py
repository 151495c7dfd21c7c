"""Data acquisition, in order of trust: the user's examples, then unlabelled texts labelled by a teacher
(a label for classification, mentions for entity extraction, an answer for generation, kept only when a
checker passes it).

Each acquired example goes to the :class:`~pioneer.coldstart.sources.AcquiredStore` journal the moment it is
acquired, so a teacher that fails mid-way raises :class:`~pioneer.coldstart.teacher.TeacherError` and everything
labelled before the failure stays on disk; the next run resumes with the texts still unasked.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pioneer.coldstart.checking import AnswerCheck
from pioneer.coldstart.sources import AcquiredStore, Sourced, text_key
from pioneer.coldstart.task import TaskSpec
from pioneer.coldstart.teacher import (
    Teacher,
    TeacherError,
    parse_label,
    parse_lines,
    parse_spans,
)
from pioneer.errors import ConfigError
from pioneer.training.base import Example

log = logging.getLogger(__name__)

GARBAGE_STREAK = 20
"""Consecutive unusable answers after which the teacher is judged broken rather than unsure."""


@dataclass(slots=True, kw_only=True)
class LabellingReport:
    """What one pass of teacher labelling did."""

    asked: int = 0
    labelled: int = 0
    garbage: int = 0
    already_known: int = 0
    rejected: int = 0
    """Answers a checker failed (generation): journalled with the reason, never trained or evaluated on."""


def add_user_examples(store: AcquiredStore, examples: Sequence[Example], task: TaskSpec) -> int:
    """Journal the user's labelled examples (once: a rerun adds none); returns how many were new."""
    if task.kind == "classification":
        unknown = sorted({str(e.label) for e in examples if e.label not in task.labels})
        if unknown:
            raise ConfigError(f"examples carry labels outside the task's label set: {', '.join(unknown[:10])}")
    new = [Sourced(e, "user") for e in examples if not store.asked(e.text)]
    store.add(new)
    return len(new)


def label_with_teacher(
    store: AcquiredStore,
    texts: Sequence[str],
    teacher: Teacher,
    task: TaskSpec,
    *,
    limit: int | None = None,
    on_progress: Callable[[LabellingReport, int], None] | None = None,
    check: AnswerCheck | None = None,
) -> LabellingReport:
    """Ask ``teacher`` to label each text not yet in the journal (at most ``limit`` asked in this call); for a
    generation task, to answer it, each answer kept only if ``check`` passes it.

    Raises :class:`TeacherError` when the teacher fails or answers garbage :data:`GARBAGE_STREAK` times in a
    row; the message says how many examples the journal keeps.
    """
    report = LabellingReport()
    todo: list[str] = []
    seen: set[str] = set()
    for text in texts:
        key = text_key(text)
        if not key or key in seen:
            continue
        seen.add(key)
        if store.asked(text):
            report.already_known += 1
        else:
            todo.append(text)
    if limit is not None:
        todo = todo[:limit]
    _ask_each(store, todo, teacher, task, f"teacher:{teacher.name}", check, report, on_progress)
    log.info("teacher labelling done", extra={"teacher": teacher.name, "asked": report.asked,
                                               "labelled": report.labelled, "garbage": report.garbage,
                                               "rejected": report.rejected})
    return report


def _ask_each(
    store: AcquiredStore, texts: Sequence[str], teacher: Teacher, task: TaskSpec, source: str,
    check: AnswerCheck | None, report: LabellingReport,
    on_progress: Callable[[LabellingReport, int], None] | None,
) -> None:
    """Ask ``teacher`` about each of ``texts`` and journal every answer under ``source`` (garbage and answers
    ``check`` rejects as unanswered, with the reason); raises :class:`TeacherError` as :func:`label_with_teacher`."""
    streak = 0
    for text in texts:
        try:
            answer = teacher.classify(text, task)
        except TeacherError as exc:
            raise TeacherError(f"{exc}; {_kept(store)}") from exc
        except Exception as exc:  # a teacher is foreign code: any failure is reported the same way
            raise TeacherError(f"teacher {teacher.name} failed: {exc!r}; {_kept(store)}") from exc
        report.asked += 1
        example = _read_answer(answer, text, task)
        if example is None:
            report.garbage += 1
            streak += 1
            store.add_unanswered(text, source, str(answer))
            if streak >= GARBAGE_STREAK:
                raise TeacherError(
                    f"teacher {teacher.name} gave {streak} answers in a row that name no label (last: "
                    f"{str(answer)[:80]!r}); check that it is an instruction-following model; {_kept(store)}"
                )
        elif (verdict := _checked(check, example))[0] is False:
            streak = 0
            report.rejected += 1
            store.add_unanswered(text, source, str(answer), reason=f"{check.name}: {verdict[1]}")  # type: ignore[union-attr]
        else:
            streak = 0
            report.labelled += 1
            kind = source.partition(":")[0]
            store.add([Sourced(replace(example, id=f"{kind}:{example.id.partition(':')[2]}"), source)])
        if on_progress is not None:
            on_progress(report, len(texts))


def synthesize_with_teacher(
    store: AcquiredStore, teacher: Teacher, task: TaskSpec, *, per_label: int,
    on_progress: Callable[[LabellingReport, int], None] | None = None,
    check: AnswerCheck | None = None, like: Sequence[str] = (),
) -> LabellingReport:
    """Ask ``teacher`` to write texts for each label until the journal holds ``per_label`` synthetic examples of it;
    for an entity or generation task, ``per_label`` new inputs in all, written in the manner of ``like``, then
    labelled (or answered) by the teacher like any text, an answer kept only if ``check`` passes it.

    Provenance ``synthetic:<teacher>``: the least trusted source, never evaluated on, and a data move of the
    search drops it. A text already in the journal is skipped. Raises :class:`TeacherError` when the teacher fails,
    or writes nothing usable for any label; what was written before stays in the journal.
    """
    if task.kind != "classification":
        return _synthesize_inputs(store, teacher, task, per_label, check, like, on_progress)
    source = f"synthetic:{teacher.name}"
    report = LabellingReport()
    have = Counter(str(i.example.label) for i in store.items if i.source == source)
    for label in task.labels:
        wanted = per_label - have[label]
        if wanted <= 0:
            report.already_known += have[label]
            continue
        try:
            answer = teacher.synthesize(label, task, wanted)
        except TeacherError as exc:
            raise TeacherError(f"{exc}; {_kept(store)}") from exc
        except Exception as exc:  # a teacher is foreign code: any failure is reported the same way
            raise TeacherError(f"teacher {teacher.name} failed: {exc!r}; {_kept(store)}") from exc
        report.asked += 1
        texts = [t for t in parse_lines(str(answer), wanted) if not store.asked(t)] if isinstance(answer, str) else []
        if not texts:
            report.garbage += 1
        store.add([Sourced(Example(text=t, label=label, id="synthetic:" + _teacher_id(t).partition(":")[2]), source)
                   for t in dict.fromkeys(texts)])
        report.labelled += len(set(texts))
        if on_progress is not None:
            on_progress(report, len(task.labels))
    if report.asked and report.garbage == report.asked:
        raise TeacherError(f"teacher {teacher.name} wrote no usable text for any label (last answer: "
                           f"{str(answer)[:80]!r}); {_kept(store)}")
    return report


def _synthesize_inputs(
    store: AcquiredStore, teacher: Teacher, task: TaskSpec, n: int, check: AnswerCheck | None,
    like: Sequence[str], on_progress: Callable[[LabellingReport, int], None] | None,
) -> LabellingReport:
    """Synthesis without labels to write for: the teacher writes new inputs, then labels or answers each (checked)
    like any unlabelled text."""
    source = f"synthetic:{teacher.name}"
    report = LabellingReport()
    have = sum(1 for i in store.items if i.source == source)
    if have >= n:
        report.already_known = have
        return report
    try:
        answer = teacher.synthesize("", task, n - have, like=like)
    except TeacherError as exc:
        raise TeacherError(f"{exc}; {_kept(store)}") from exc
    except Exception as exc:  # a teacher is foreign code: any failure is reported the same way
        raise TeacherError(f"teacher {teacher.name} failed: {exc!r}; {_kept(store)}") from exc
    texts = [t for t in dict.fromkeys(parse_lines(str(answer), n - have)) if not store.asked(t)]
    if not texts:
        raise TeacherError(f"teacher {teacher.name} wrote no new input (answer: {str(answer)[:80]!r}); {_kept(store)}")
    _ask_each(store, texts, teacher, task, source, check, report, on_progress)
    return report


def _read_answer(answer: object, text: str, task: TaskSpec) -> Example | None:
    """The example a teacher's answer makes (None: the answer is garbage)."""
    if not isinstance(answer, str):
        return None
    if task.kind == "generation":
        return Example(text=text, target=answer.strip(), id=_teacher_id(text)) if answer.strip() else None
    if task.kind == "entity_extraction":
        spans = parse_spans(answer, text, task.labels)
        return None if spans is None else Example(text=text, spans=spans, id=_teacher_id(text))
    label = parse_label(answer, task.labels)
    return None if label is None else Example(text=text, label=label, id=_teacher_id(text))


def _checked(check: AnswerCheck | None, example: Example) -> tuple[bool | None, str]:
    """The checker's verdict on a generated answer (None: nothing to check)."""
    if check is None or example.target is None:
        return None, ""
    return check.passes(example.text, example.target)


def _teacher_id(text: str) -> str:
    return "teacher:" + hashlib.sha256(text_key(text).encode()).hexdigest()[:16]


def _kept(store: AcquiredStore) -> str:
    return f"the {len(store.items)} examples acquired so far are kept in {store.path}; rerun to resume"
