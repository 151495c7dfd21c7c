"""The eight AdaptFT-Bench scenarios: which task, which data, which noise, at which size.

===================== ================== ======================= ==========================================
scenario              task               data                    noise emphasis
===================== ================== ======================= ==========================================
clinc150-uniform      classification     CLINC150                uniform mislabels, new phrasings
clinc150-clustered    classification     CLINC150                clustered (systematic) intent flips
banking               classification     generated (no data)     the blind spot, mixed poison
banking-adversarial   classification     generated (no data)     prompt injections and jailbreaks
conll2003             entity_extraction  CoNLL-2003              type flips, missed/spurious entities
restaurant8k          entity_extraction  Restaurant-8k           slot flips, casing drift
arithmetic            generation         generated (no data)     number swaps, negations, false premises
arithmetic-labelfree  generation         generated (no data)     no human labels: a judge labels a sample
===================== ================== ======================= ==========================================

Every scenario has a quick size (minutes on a CPU; CI runs two) and a full size (about 500 logs per stage, as the
reference). Generation is the expensive one on a CPU: its quick size (equations over numbers up to 9, a rank-8
LoRA, a few optimisation steps) takes 8-15 minutes on 2 busy CPU cores and measures real learning
(docs/generation.md); its full size (bare numbers up to 20) is meant for a GPU (run times: docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pioneer.bench.sources.base import TaskSource
from pioneer.judging.base import Judge
from pioneer.training import (
    ClassificationConfig,
    EntityExtractionConfig,
    GenerationConfig,
)
from pioneer.training.base import BaseTrainConfig, Example

SourceFactory = Callable[[Path, bool, int], TaskSource]
"""``factory(datasets_folder, quick, seed) -> source``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One scenario's definition (data, noise, sizes and the adapter config of every model it trains)."""

    name: str
    task: str
    description: str
    dataset: str | None
    """Folder under the datasets directory it needs (None: generated, no external data)."""
    source: SourceFactory
    config: Callable[[bool], BaseTrainConfig]
    fixable_mix: Mapping[str, float]
    poison_mix: Mapping[str, float]
    logs_per_stage: tuple[int, int]
    """(quick, full)."""
    fixable_share: float = 0.3
    min_pattern: int = 3
    """Failures a discovered pattern needs to be sent to the trainer."""
    clustering: tuple[float, float] = (0.6, 0.7)
    """(threshold, link_threshold) of the pattern clusterer (see :func:`pioneer.bench.discover_patterns`)."""
    iterations: tuple[int, int] = (2, 2)
    """Retrain iterations per request (quick, full); each iteration trains at least two candidates, and a second
    runs only after a rejection (the search moves away from what the gate refused)."""
    pattern_confidence: float | None = None
    """The gate judges each pattern's fix rate by its upper confidence bound at this level (None: the point
    rate). Entity taggers: a failure is fixed only when the whole sentence is right, and a stage holds one or
    two of a pattern's failures out."""
    checker: Callable[[TaskSource], Judge | None] | None = None
    """The task's answer checker, given its source (None: answers cannot be verified); Pioneer's diagnosis uses
    it to tell poisoned corrections from real failures (:mod:`pioneer.diagnosis.checked`)."""
    labels: str = "feedback"
    """Who labels the served logs: ``feedback`` (each log's feedback, poison included) or ``judge`` (no feedback
    reaches the trainer: the scenario's checker judges a budgeted sample, :mod:`pioneer.bench.judged`)."""
    judge_calls: tuple[int, int] = (0, 0)
    """Judge calls per stage at most (quick, full), with ``labels="judge"``."""
    blind_spot: Callable[[Example], bool] | None = None
    """Which held-out examples belong to a planted blind spot (scored apart at every checkpoint)."""
    poison_rates: tuple[float, ...] | None = None
    """Poison share of each stage (None: the reference's 15%, 25%, 40%)."""
    blend_weights: tuple[tuple[float, ...] | None, tuple[float, ...] | None] = (None, None)
    """Weights at which Pioneer's retrainer blends a warm-started candidate toward production (quick, full);
    None: the retrainer's default five."""

    def blends(self, quick: bool) -> tuple[float, ...] | None:
        return self.blend_weights[0 if quick else 1]

    def logs(self, quick: bool) -> int:
        return self.logs_per_stage[0] if quick else self.logs_per_stage[1]


# ---------------------------------------------------------------------------------------------- sources


def _clinc(folder: Path, quick: bool, seed: int) -> TaskSource:
    from pioneer.bench.sources import clinc150_source

    return clinc150_source(folder / "clinc150", per_label=10, new_phrasing_intents=8, flip_intents=6, seed=seed)


def _banking(folder: Path, quick: bool, seed: int) -> TaskSource:
    from pioneer.bench.sources import banking_source

    return banking_source(per_intent=10, flip_intents=2, seed=seed)


def _conll(folder: Path, quick: bool, seed: int) -> TaskSource:
    from pioneer.bench.sources import conll2003_source

    if quick:
        return conll2003_source(folder / "conll2003", base=80, validation=30, gate=50, seed=seed)
    return conll2003_source(folder / "conll2003", base=300, validation=100, gate=150, seed=seed)


def _restaurant(folder: Path, quick: bool, seed: int) -> TaskSource:
    from pioneer.bench.sources import restaurant8k_source

    if quick:
        return restaurant8k_source(folder / "restaurant8k", base=80, validation=30, gate=50, seed=seed)
    return restaurant8k_source(folder / "restaurant8k", base=300, validation=100, gate=150, seed=seed)


def _arithmetic(folder: Path, quick: bool, seed: int) -> TaskSource:
    from pioneer.bench.sources import ArithmeticSource
    from pioneer.synthetic.arithmetic import ArithmeticTask

    if quick:
        # Equations ("7 + 4 = 11"), which SmolLM2-135M learns in a few CPU steps; two steps on the base data
        # leave a model that is right about half the time, so retraining has room to help or hurt.
        task = ArithmeticTask(seed=seed, largest=9, answer_format="equation")
        return ArithmeticSource(task, base=8, validation=6, gate=16)
    return ArithmeticSource(ArithmeticTask(seed=seed, largest=20), base=300, validation=60, gate=100)


def _arithmetic_blind_spot(folder: Path, quick: bool, seed: int) -> TaskSource:
    from pioneer.bench.sources import ArithmeticSource
    from pioneer.synthetic.arithmetic import ArithmeticTask

    # The first model never saw a subtraction: it writes "9 + 4 = 13" for "gives away 4". Traffic asks both.
    task = ArithmeticTask(seed=seed, largest=9 if quick else 20, answer_format="equation")
    if quick:
        return ArithmeticSource(task, base=16, validation=6, gate=16, base_ops=("+",))
    return ArithmeticSource(task, base=200, validation=60, gate=100, base_ops=("+",))


def _subtraction(example: Example) -> bool:
    return " - " in (example.target or "")


def _arithmetic_checker(source: TaskSource) -> Judge | None:
    return source.generator.checker()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- configs


def _classification(quick: bool) -> BaseTrainConfig:
    # The deployments' head: embedding and spelling. At full size Pioneer ends 0.6-4.0 points higher with the
    # n-grams than without (naive retraining moves -1.3 to +2.0), the base models 0.7-2.4 points higher.
    return ClassificationConfig(strategy="head", char_ngrams=16384, progress_bar=False)


def _entities(quick: bool) -> BaseTrainConfig:
    if quick:
        # The smallest run that still learns something: a weak but working tagger in seconds (docs/benchmarks.md),
        # so not the 500-sentence step count the full size trains.
        return EntityExtractionConfig(epochs=3.0, max_length=48, batch_size=16, progress_bar=False,
                                      calibrated_examples=None)
    return EntityExtractionConfig(epochs=3.0, max_length=64, progress_bar=False)


def _generation_equations(quick: bool) -> BaseTrainConfig:
    from pioneer.synthetic.arithmetic import EQUATION_PROMPT

    if quick:
        return _generation(True)
    return GenerationConfig(
        epochs=3.0, batch_size=16, learning_rate=5e-4, max_length=96, max_new_tokens=16, lora_r=16,
        answer_checker="numeric", system_prompt=EQUATION_PROMPT, progress_bar=False,
    )


def _generation(quick: bool) -> BaseTrainConfig:
    from pioneer.synthetic.arithmetic import EQUATION_PROMPT, SYSTEM_PROMPT

    if quick:
        # max_length holds the longest quick conversation (about 70 tokens with a distractor); 48 dropped most
        # of them. No warm-up: a run of a few steps cannot spare one at learning rate 0.
        return GenerationConfig(
            epochs=1.0, batch_size=4, learning_rate=2e-3, max_length=96, max_new_tokens=12, lora_r=8,
            lora_alpha=16, warmup_ratio=0.0, answer_checker="numeric", system_prompt=EQUATION_PROMPT,
            progress_bar=False,
        )
    return GenerationConfig(
        epochs=3.0, batch_size=16, learning_rate=5e-4, max_length=96, max_new_tokens=8, lora_r=16,
        answer_checker="numeric", system_prompt=SYSTEM_PROMPT, progress_bar=False,
    )


INTENT_FIXABLE = {"typo": 1.0, "truncation": 1.0, "preamble": 1.0, "number_distractor": 1.0,
                  "paraphrase_drift": 1.0, "new_phrasing": 4.0}
ENTITY_FIXABLE = {"typo": 1.0, "truncation": 1.0, "preamble": 1.0, "number_distractor": 1.0, "paraphrase_drift": 2.0}

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="clinc150-uniform", task="classification", dataset="clinc150", source=_clinc,
            config=_classification,
            description="CLINC150 intents; poison mostly uniform random mislabels, some injections and jailbreaks.",
            fixable_mix=INTENT_FIXABLE,
            poison_mix={"mislabel": 6.0, "prompt_injection": 1.0, "jailbreak": 1.0},
            logs_per_stage=(300, 500),
        ),
        Scenario(
            name="clinc150-clustered", task="classification", dataset="clinc150", source=_clinc,
            config=_classification,
            description="CLINC150 intents; poison mostly clustered flips (six intents systematically relabelled).",
            fixable_mix=INTENT_FIXABLE,
            poison_mix={"clustered_flip": 6.0, "mislabel": 2.0},
            logs_per_stage=(300, 500),
        ),
        Scenario(
            name="banking", task="classification", dataset=None, source=_banking, config=_classification,
            description="Generated banking intents with a blind spot; mixed uniform and clustered poison.",
            fixable_mix={"new_phrasing": 4.0, "typo": 1.0, "preamble": 1.0, "number_distractor": 1.0},
            poison_mix={"mislabel": 3.0, "clustered_flip": 3.0, "prompt_injection": 1.0, "jailbreak": 1.0},
            logs_per_stage=(200, 500),
        ),
        Scenario(
            name="banking-adversarial", task="classification", dataset=None, source=_banking,
            config=_classification,
            description="Generated banking intents; poison mostly prompt injections and jailbreaks.",
            fixable_mix={"new_phrasing": 4.0, "typo": 1.0, "preamble": 1.0, "truncation": 1.0},
            poison_mix={"prompt_injection": 4.0, "jailbreak": 4.0, "mislabel": 2.0},
            logs_per_stage=(200, 500),
        ),
        Scenario(
            name="conll2003", task="entity_extraction", dataset="conll2003", source=_conll, config=_entities,
            description="CoNLL-2003 entities; poison: wrong types, missed and spurious entities, LOC->ORG flips.",
            fixable_mix=ENTITY_FIXABLE,
            poison_mix={"mislabel": 4.0, "clustered_flip": 3.0, "prompt_injection": 1.0, "jailbreak": 1.0},
            logs_per_stage=(40, 500), iterations=(1, 2), pattern_confidence=0.95,
        ),
        Scenario(
            name="restaurant8k", task="entity_extraction", dataset="restaurant8k", source=_restaurant,
            config=_entities,
            description="Restaurant-8k slots; poison: wrong slots, people->time flips, injections.",
            fixable_mix=ENTITY_FIXABLE,
            poison_mix={"mislabel": 4.0, "clustered_flip": 3.0, "prompt_injection": 1.0, "jailbreak": 1.0},
            logs_per_stage=(40, 500), iterations=(1, 2), pattern_confidence=0.95,
        ),
        Scenario(
            name="arithmetic", task="generation", dataset=None, source=_arithmetic, config=_generation,
            description="Generated arithmetic word problems (numeric answers); every poison kind of the reference.",
            fixable_mix={"typo": 1.0, "preamble": 1.0, "number_distractor": 2.0, "paraphrase_drift": 3.0},
            poison_mix={"mislabel": 1.0, "clustered_flip": 1.0, "number_swap": 1.0, "negation_flip": 1.0,
                        "false_premise": 1.0, "prompt_injection": 1.0, "jailbreak": 1.0},
            logs_per_stage=(30, 500), min_pattern=2, iterations=(1, 2), checker=_arithmetic_checker,
            # Quick: one blend; five cost minutes of greedy decoding on 2 CPU cores. 30 logs per stage hold out
            # 24 problems (16 held out 15, a step of 7 points per answer).
            blend_weights=((0.5,), None),
        ),
        Scenario(
            name="arithmetic-labelfree", task="generation", dataset=None, source=_arithmetic_blind_spot,
            config=_generation_equations,
            description="Arithmetic with a blind spot (the first model never saw a subtraction) and no human "
                        "labels: the numeric checker judges a budgeted sample of the served answers.",
            fixable_mix={"number_distractor": 1.0, "paraphrase_drift": 1.0},
            poison_mix={}, poison_rates=(0.0, 0.0, 0.0), labels="judge", judge_calls=(12, 150),
            blind_spot=_subtraction,
            logs_per_stage=(30, 500), min_pattern=2, iterations=(1, 2), checker=_arithmetic_checker,
            blend_weights=((0.5,), None),
        ),
    )
}
