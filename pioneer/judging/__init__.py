"""Judging unlabelled traffic: judges behind one interface, the sampler that picks what they see, and how
often they agree with people."""

from pioneer.judging.agreement import AgreementTracker
from pioneer.judging.base import Judge, JudgeError, Verdict
from pioneer.judging.budget import CallBudget
from pioneer.judging.checkers import JsonSchemaChecker, NumericChecker, RegexChecker
from pioneer.judging.drift import DriftAlarm, DriftWatch
from pioneer.judging.endpoint import EndpointJudge, parse_verdict
from pioneer.judging.labels import judge_label, label_id
from pioneer.judging.model import ModelJudge
from pioneer.judging.sampler import StratifiedSampler, stratum_of

__all__ = [
    "AgreementTracker",
    "CallBudget",
    "DriftAlarm",
    "DriftWatch",
    "EndpointJudge",
    "JsonSchemaChecker",
    "Judge",
    "JudgeError",
    "ModelJudge",
    "NumericChecker",
    "RegexChecker",
    "StratifiedSampler",
    "Verdict",
    "judge_label",
    "label_id",
    "parse_verdict",
    "stratum_of",
]
