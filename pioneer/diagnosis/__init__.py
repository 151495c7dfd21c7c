"""Diagnosis: which failures of a pattern training can fix, and why the others cannot."""

from pioneer.diagnosis.adversarial import AdversarialDetector
from pioneer.diagnosis.diagnoser import Diagnoser
from pioneer.diagnosis.lexicon import OUTSIDE, SpanLexicon
from pioneer.diagnosis.noise import NeighbourNoiseDetector, NoiseVote
from pioneer.diagnosis.report import (
    VERDICTS,
    DiagnosisReport,
    Finding,
    PatternDiagnosis,
)
from pioneer.diagnosis.vectors import Encoder, TfidfEncoder, cosine

__all__ = [
    "OUTSIDE",
    "VERDICTS",
    "AdversarialDetector",
    "DiagnosisReport",
    "Diagnoser",
    "Encoder",
    "Finding",
    "NeighbourNoiseDetector",
    "NoiseVote",
    "PatternDiagnosis",
    "SpanLexicon",
    "TfidfEncoder",
    "cosine",
]
