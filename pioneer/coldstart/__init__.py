"""Cold start: from a task description (and whatever data exists) to a first gated, registered model."""

from pioneer.coldstart.acquire import (
    LabellingReport,
    add_user_examples,
    label_with_teacher,
)
from pioneer.coldstart.evalset import (
    EvalSet,
    build_eval_set,
    frozen_eval_set,
    load_eval_set,
)
from pioneer.coldstart.run import ColdStartResult, Observer, run_coldstart
from pioneer.coldstart.search import Attempt, CandidateSearch, Recipe, SearchResult
from pioneer.coldstart.sources import AcquiredStore, Sourced, provenance_mix
from pioneer.coldstart.task import TaskSpec, TaskTooThinError, analyse_task
from pioneer.coldstart.teacher import (
    EndpointTeacher,
    SimulatedTeacher,
    Teacher,
    TeacherError,
    teacher_from_option,
)

__all__ = [
    "AcquiredStore",
    "Attempt",
    "CandidateSearch",
    "ColdStartResult",
    "EndpointTeacher",
    "EvalSet",
    "LabellingReport",
    "Observer",
    "Recipe",
    "SearchResult",
    "SimulatedTeacher",
    "Sourced",
    "TaskSpec",
    "TaskTooThinError",
    "Teacher",
    "TeacherError",
    "add_user_examples",
    "analyse_task",
    "build_eval_set",
    "frozen_eval_set",
    "label_with_teacher",
    "load_eval_set",
    "provenance_mix",
    "run_coldstart",
    "teacher_from_option",
]
