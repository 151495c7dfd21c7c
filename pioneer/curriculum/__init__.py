"""Curriculum: gold, hard negatives, replay and optional teacher paraphrases, balanced and leak-free."""

from pioneer.curriculum.balance import balance, label_ratio, labels_of
from pioneer.curriculum.builder import Curriculum, CurriculumBuilder, CurriculumItem
from pioneer.curriculum.teacher import (
    LocalTeacher,
    OpenAICompatibleTeacher,
    Teacher,
    augment,
    parse_lines,
)

__all__ = [
    "Curriculum",
    "CurriculumBuilder",
    "CurriculumItem",
    "LocalTeacher",
    "OpenAICompatibleTeacher",
    "Teacher",
    "augment",
    "balance",
    "label_ratio",
    "labels_of",
    "parse_lines",
]
