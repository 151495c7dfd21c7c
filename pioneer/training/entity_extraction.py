"""Entity extraction as BIO token classification over an encoder, scored by span-level exact-match F1.

Text in, character spans out. Between the two: the tokenizer's pre-tokenised *words* (whitespace and
punctuation split, the units CoNLL tags and Restaurant-8k spans align with; 5 of 7,635 Restaurant-8k spans do
not, by a stray space the loader trims). Each word gets a BIO tag from the gold spans (:func:`spans_to_tags`);
the model learns the tag on the word's first word piece; prediction decodes the tags of all words with a
constrained Viterbi pass (no ``I-X`` without a ``B-X``/``I-X`` before it), then turns them back into spans.

The offline encoder is uncased, so by default a casing embedding per word (lower, Title, UPPER, mixed,
digits, other) is added to its input embeddings (:class:`~pioneer.training.encoders.TokenTagger`); on
CoNLL-2003 that is worth several F1 points (see the benchmark script).

``entity_threshold`` trades recall for precision: a predicted entity is kept only when the mean probability of
its words' tags reaches it (the reference system's baseline failed mostly on false positives).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from pioneer.data.bio import OUTSIDE, spans_to_tags, split_tag, tags_to_spans
from pioneer.errors import NotFittedError
from pioneer.events import Output, Span
from pioneer.metrics import span_scores, spans_match
from pioneer.training.base import (
    BaseTrainConfig,
    Evaluation,
    Example,
    ProgressCallback,
    TaskAdapter,
)
from pioneer.training.interpolation import interpolate
from pioneer.training.runtime import (
    final_loss,
    pick_device,
    progress_iter,
    quiet_trainer,
    trainer_callback,
    training_arguments,
)

log = logging.getLogger(__name__)



@dataclass(slots=True, kw_only=True)
class EntityExtractionConfig(BaseTrainConfig):
    """Hyperparameters of :class:`EntityExtractionAdapter`.

    Defaults that differ from :class:`BaseTrainConfig`: ``max_length`` 64 → 128 word pieces (long news
    sentences; words past the limit are never tagged), ``learning_rate`` 5e-5 → 3e-4 and ``epochs`` 3 → 4 (MiniLM
    on 500 CoNLL-2003 sentences, 3 epochs: entity F1 0.61 at 1e-4, 0.76 at 3e-4; 0.79 with 6 epochs). Since those
    values hold for 500 sentences, a smaller set trains the optimisation steps of 500 (``calibrated_examples``).

    >>> EntityExtractionConfig().training_epochs(125)
    16.0
    >>> EntityExtractionConfig(calibrated_examples=None).training_epochs(125)
    4.0
    """

    max_length: int = field(default=128, metadata={"help": "Word pieces per input; words beyond are not tagged."})
    learning_rate: float = field(default=3e-4, metadata={"help": "Peak learning rate of the encoder (~1e-3 with LoRA)."})
    epochs: float = field(
        default=4.0, metadata={"help": "Passes over the training data (over calibrated_examples when the data is smaller)."}
    )
    calibrated_examples: int | None = field(
        default=500,
        metadata={
            "help": "Train at least the optimisation steps of `epochs` passes over this many examples: the defaults "
            "were set on 500 CoNLL-2003 sentences, and on 150 their 4 epochs are 40 steps, a half-trained tagger. "
            "None or 0: exactly `epochs` passes."
        },
    )

    casing_features: bool = field(
        default=True, metadata={"help": "Add a learned casing embedding per word (helps uncased encoders)."}
    )
    head_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the tag classifier and casing embedding; None = 10× learning_rate."},
    )
    dropout: float = field(default=0.1, metadata={"help": "Dropout before the tag classifier."})
    constrained_decoding: bool = field(
        default=True, metadata={"help": "Viterbi decoding that forbids I-X without B-X/I-X before it."}
    )
    entity_threshold: float = field(
        default=0.0,
        metadata={"help": "Keep a predicted entity only if the mean probability of its tags is at least this."},
    )
    entity_types: tuple[str, ...] | None = field(
        default=None,
        metadata={"help": "The entity types to learn; None = every type in the training data (others are ignored)."},
    )

    def validate(self) -> None:
        BaseTrainConfig.validate(self)
        if self.head_learning_rate is not None and self.head_learning_rate <= 0:
            raise ValueError(f"head_learning_rate={self.head_learning_rate!r} must be > 0, or None.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout!r} must be in [0, 1).")
        if not 0.0 <= self.entity_threshold <= 1.0:
            raise ValueError(f"entity_threshold={self.entity_threshold!r} must be in [0, 1].")
        if self.entity_types is not None and not self.entity_types:
            raise ValueError("entity_types=() names no type; pass None to learn every type in the data.")
        if self.calibrated_examples is not None and self.calibrated_examples < 0:
            raise ValueError(f"calibrated_examples={self.calibrated_examples!r} must be ≥ 0, or None to turn it off.")

    def training_epochs(self, examples: int) -> float:
        """Passes over ``examples`` training examples: ``epochs``, scaled up below ``calibrated_examples`` so a
        small set takes as many optimisation steps as the set the defaults were chosen on."""
        calibrated = self.calibrated_examples or 0
        if 0 < examples < calibrated:
            return self.epochs * calibrated / examples
        return self.epochs


@dataclass(slots=True)
class _Encoded:
    """One text as the model sees it: word pieces, and each word's first piece and character offsets."""

    input_ids: list[int]
    attention_mask: list[int]
    token_type_ids: list[int] | None
    casing_ids: list[int]
    first_pieces: list[int]
    word_offsets: list[tuple[int, int]]


class EntityExtractionAdapter(TaskAdapter):
    """Train, predict and evaluate a BIO tagger that returns character spans.

    >>> EntityExtractionAdapter().metric_name
    'entity_f1'
    """

    task: ClassVar[str] = "entity_extraction"
    metric_name: ClassVar[str] = "entity_f1"
    warm_starts: ClassVar[bool] = True
    blends_from_base: ClassVar[bool] = True
    """Fits from one pretrained encoder and one seeded head stay on a working line (docs/deployments.md)."""
    config_class: ClassVar[type[BaseTrainConfig]] = EntityExtractionConfig
    config: EntityExtractionConfig

    def __init__(self, config: EntityExtractionConfig | None = None) -> None:
        super().__init__(config)
        self.tags_: list[str] | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._device: Any = None
        self._encoder_mode = "full"

    @property
    def entity_types_(self) -> list[str]:
        """Entity types the fitted model predicts."""
        self._check_fitted()
        assert self.tags_ is not None
        return sorted({t[2:] for t in self.tags_ if t != OUTSIDE})

    # ------------------------------------------------------------------------------------------------ encoding

    def _encode(self, texts: Sequence[str]) -> list[_Encoded]:
        from pioneer.training.encoders import casing_class

        batch = self._tokenizer(
            list(texts), truncation=True, max_length=self.config.max_length, return_offsets_mapping=True
        )
        encoded: list[_Encoded] = []
        for i, text in enumerate(texts):
            word_ids = batch.word_ids(i)
            offsets = batch["offset_mapping"][i]
            first: dict[int, int] = {}
            spans: dict[int, list[int]] = {}
            for position, word in enumerate(word_ids):
                if word is None:
                    continue
                start, end = offsets[position]
                if word not in first:
                    first[word] = position
                    spans[word] = [start, end]
                else:
                    spans[word][0] = min(spans[word][0], start)
                    spans[word][1] = max(spans[word][1], end)
            words = sorted(first)
            casing_of_word = {w: casing_class(text[spans[w][0] : spans[w][1]]) for w in words}
            casing = [0 if w is None else casing_of_word[w] for w in word_ids]
            encoded.append(
                _Encoded(
                    input_ids=list(batch["input_ids"][i]),
                    attention_mask=list(batch["attention_mask"][i]),
                    token_type_ids=list(batch["token_type_ids"][i]) if "token_type_ids" in batch else None,
                    casing_ids=casing,
                    first_pieces=[first[w] for w in words],
                    word_offsets=[(spans[w][0], spans[w][1]) for w in words],
                )
            )
        return encoded

    def _features(self, item: _Encoded) -> dict[str, list[int]]:
        features = {"input_ids": item.input_ids, "attention_mask": item.attention_mask, "casing_ids": item.casing_ids}
        if item.token_type_ids is not None:
            features["token_type_ids"] = item.token_type_ids
        return features

    # ------------------------------------------------------------------------------------------------ fitting

    def _fit(
        self,
        train: Sequence[Example],
        *,
        validation: Sequence[Example] | None,
        progress: ProgressCallback | None,
        start_from: EntityExtractionAdapter | None = None,
    ) -> Self:
        from transformers import Trainer

        from pioneer.training.backbone import merge_for_inference

        cfg = self.config
        _check_spans(train)
        clock = self._begin_fit(train)
        types = cfg.entity_types or sorted({s.label for e in train for s in e.spans or ()})
        start = self._warm_start_source(start_from, lambda start: self._warm_start_reasons(start, types))
        types = self._build_model(start, types)
        self._model.train()
        dataset = self._training_items(train, set(types))
        epochs = cfg.training_epochs(len(dataset))
        with tempfile.TemporaryDirectory(prefix="pioneer-ner-") as scratch:
            trainer = Trainer(
                model=self._model,
                args=training_arguments(cfg, scratch, train_sampling_strategy="group_by_length", num_train_epochs=epochs),
                train_dataset=dataset,
                data_collator=_PadCollator(self._tokenizer.pad_token_id or 0),
                optimizers=(self._optimizer(), None),
                callbacks=[trainer_callback(progress)] if progress is not None else None,
            )
            quiet_trainer(trainer)
            trainer.train()
        merge_for_inference(self._model.encoder)
        self._model.to(self._device).eval()
        return self._end_fit(
            clock, validation, "entity extractor", steps=int(trainer.state.global_step), epochs=epochs,
            train_loss=final_loss(trainer), lora=self._encoder_mode == "lora", tags=len(self.tags_ or ()),
            warm_start=start is not None,
        )

    def _build_model(self, start: EntityExtractionAdapter | None, types: Sequence[str]) -> list[str]:
        """A copy of ``start``'s tagger (its tag set, a superset of the data's), else a new one on the base
        encoder; returns the entity types the model tags."""
        import copy

        from pioneer.training.backbone import add_lora, load_base_encoder
        from pioneer.training.encoders import TokenTagger

        cfg = self.config
        if start is not None:
            self.tags_ = list(start.tags_ or [])
            self._tokenizer, self._device, self._encoder_mode = start._tokenizer, start._device, "full"
            self._model = copy.deepcopy(start._model).to(self._device)
            return sorted({t[2:] for t in self.tags_ if t != OUTSIDE})
        self.tags_ = [OUTSIDE] + [f"{p}-{t}" for t in sorted(types) for p in ("B", "I")]
        self._tokenizer, encoder = load_base_encoder(cfg)
        self._device = pick_device(cfg.device)
        self._encoder_mode = "full"
        if cfg.use_lora:
            encoder = add_lora(encoder, cfg)
            self._encoder_mode = "lora"
        self._model = TokenTagger(encoder, len(self.tags_), casing=cfg.casing_features, dropout=cfg.dropout).to(self._device)
        return list(types)

    def _training_items(self, train: Sequence[Example], keep: set[str]) -> list[dict[str, Any]]:
        """Model inputs of each example with the BIO tag id on each word's first piece (-100 elsewhere)."""
        assert self.tags_ is not None
        tag_id = {t: i for i, t in enumerate(self.tags_)}
        dataset = []
        for example, item in zip(train, self._encode([e.text for e in train]), strict=True):
            word_tags = spans_to_tags([s for s in example.spans or () if s.label in keep], item.word_offsets)
            labels = [-100] * len(item.input_ids)
            for position, tag in zip(item.first_pieces, word_tags, strict=True):
                labels[position] = tag_id[tag]
            dataset.append({**self._features(item), "labels": labels})
        return dataset

    def _optimizer(self) -> Any:
        """AdamW with the head (classifier and casing embedding) on its own, higher learning rate."""
        import torch

        cfg = self.config
        head_params = list(self._model.classifier.parameters())
        if self._model.casing is not None:
            head_params.append(self._model.casing.weight)
        head_ids = {id(p) for p in head_params}
        body_params = [p for p in self._model.parameters() if p.requires_grad and id(p) not in head_ids]
        return torch.optim.AdamW(
            [
                {"params": body_params, "lr": cfg.learning_rate},
                {"params": head_params, "lr": cfg.head_learning_rate or 10.0 * cfg.learning_rate},
            ],
            lr=cfg.learning_rate,
            weight_decay=cfg.weight_decay,
        )

    def _warm_start_reasons(self, start_from: EntityExtractionAdapter, types: Sequence[str]) -> list[str]:
        """Why ``start_from``'s tagger cannot continue on data of entity ``types`` (empty: it can)."""
        known = {t[2:] for t in start_from.tags_ or () if t != OUTSIDE}
        reasons = []
        if start_from._encoder_mode != "full" or self.config.use_lora:
            reasons.append("only fully fine-tuned encoders warm-start (LoRA and frozen ones train from base)")
        if not set(types) <= known:
            reasons.append(f"new entity types {sorted(set(types) - known)}")
        if start_from.config.casing_features != self.config.casing_features:
            reasons.append("casing features differ")
        return reasons

    def _blend_reasons(self, toward: EntityExtractionAdapter) -> list[str]:
        """Why this tagger and ``toward`` do not blend (empty: they do)."""
        reasons = []
        if toward.tags_ != self.tags_:
            reasons.append("the tag sets differ")
        if self._encoder_mode != "full" or toward._encoder_mode != "full":
            reasons.append("LoRA and frozen encoders do not blend")
        return reasons

    def blend(self, toward: EntityExtractionAdapter, weight: float) -> EntityExtractionAdapter:
        import copy

        import torch

        self._check_blend(toward, weight, self._blend_reasons, "two fully fine-tuned taggers with the same tag set")
        weights = interpolate(self._model.state_dict(), toward._model.state_dict(), weight)
        blended = type(self)(self.config)
        blended.tags_ = list(self.tags_ or [])
        blended._tokenizer, blended._device, blended._encoder_mode = self._tokenizer, self._device, self._encoder_mode
        blended._model = copy.deepcopy(self._model)
        with torch.no_grad():
            blended._model.load_state_dict(weights)
        blended._model.eval()
        return blended

    # ------------------------------------------------------------------------------------------------ inference

    def _check_fitted(self) -> None:
        if self._model is None or self.tags_ is None:
            raise NotFittedError("EntityExtractionAdapter is not fitted; call fit() or EntityExtractionAdapter.load().")

    def predict_spans(self, texts: Sequence[str]) -> list[list[Span]]:
        """Predicted entities of each text, as character spans sorted by position."""
        import torch

        self._check_fitted()
        texts = list(texts)
        encoded = self._encode(texts)
        collate = _PadCollator(self._tokenizer.pad_token_id or 0)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].input_ids))
        batches = [order[i : i + self.config.eval_batch_size] for i in range(0, len(order), self.config.eval_batch_size)]
        results: list[list[Span]] = [[] for _ in texts]
        transitions = _allowed_transitions(self.tags_) if self.config.constrained_decoding else None
        with torch.inference_mode():
            for indices in progress_iter(batches, total=len(batches), desc="tag", config=self.config):
                batch = collate([self._features(encoded[i]) for i in indices])
                batch = {k: v.to(self._device) for k, v in batch.items()}
                log_probs = torch.log_softmax(self._model(**batch).logits.float(), dim=-1).cpu().numpy()
                for row, i in enumerate(indices):
                    item = encoded[i]
                    word_scores = log_probs[row, item.first_pieces]
                    results[i] = self._decode(texts[i], item.word_offsets, word_scores, transitions)
        return results

    def _decode(self, text: str, offsets: list[tuple[int, int]], scores: Any, transitions: Any) -> list[Span]:
        import numpy as np

        assert self.tags_ is not None
        if not offsets:
            return []
        path = _viterbi(scores, transitions) if transitions is not None else list(np.argmax(scores, axis=1))
        tags = [self.tags_[k] for k in path]
        spans = tags_to_spans(tags, offsets, text)
        if self.config.entity_threshold > 0:
            confidence = np.exp(scores[np.arange(len(path)), path])
            kept = []
            for span in spans:
                inside = [j for j, (s, e) in enumerate(offsets) if s >= span.start and e <= span.end]
                if float(np.mean(confidence[inside])) >= self.config.entity_threshold:
                    kept.append(span)
            spans = kept
        return spans

    def predict(self, texts: Sequence[str]) -> list[Output]:
        return [Output(spans=spans) for spans in self.predict_spans(texts)]

    def evaluate(self, examples: Sequence[Example]) -> Evaluation:
        _check_spans(examples)
        predictions = self.predict([e.text for e in examples])
        gold = [list(e.spans or ()) for e in examples]
        predicted = [p.spans or [] for p in predictions]
        scores = span_scores(predicted, gold)
        return Evaluation(
            metric_name=self.metric_name,
            metric=scores.f1,
            ids=[e.id for e in examples],
            correct=[spans_match(p, g) for p, g in zip(predicted, gold, strict=True)],
            predictions=predictions,
            per_slice=dict(scores.per_label),
            extra={
                "precision": scores.precision,
                "recall": scores.recall,
                "tp": float(scores.tp),
                "fp": float(scores.fp),
                "fn": float(scores.fn),
                "n": float(len(examples)),
            },
        )

    # ------------------------------------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        from pioneer.training.backbone import save_encoder_model

        self._check_fitted()
        save_encoder_model(self, directory, head=self._model.head_state(), state={"tags": self.tags_})

    @classmethod
    def load(cls, directory: Path) -> Self:
        from pioneer.training.backbone import load_encoder_model
        from pioneer.training.encoders import TokenTagger

        adapter, state, encoder, head = load_encoder_model(cls, EntityExtractionConfig, directory)
        adapter.tags_ = list(state["tags"])
        model = TokenTagger(encoder, len(adapter.tags_), casing=adapter.config.casing_features, dropout=adapter.config.dropout)
        model.load_head_state(head)
        adapter._model = model.to(adapter._device).eval()
        return adapter


# ---------------------------------------------------------------------------------------------------- helpers


def _check_spans(examples: Sequence[Example]) -> None:
    if not examples:
        raise ValueError("no examples given; pass at least one example.")
    missing = [e.id for e in examples if e.spans is None]
    if missing:
        raise ValueError(
            f"{len(missing)} examples have spans=None (first: {missing[0]!r}); entity extraction needs spans= "
            "(an empty tuple when a text has no entity)."
        )


class _PadCollator:
    """Pads each list field of a batch to the longest: word pieces with the pad id, labels with -100, the rest 0."""

    def __init__(self, pad_id: int) -> None:
        self.pad_values = {"input_ids": pad_id, "labels": -100}

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        batch: dict[str, Any] = {}
        for key in features[0]:
            pad = self.pad_values.get(key, 0)
            batch[key] = torch.tensor([list(f[key]) + [pad] * (width - len(f[key])) for f in features], dtype=torch.long)
        return batch


def _allowed_transitions(tags: Sequence[str]) -> Any:
    """``allowed[prev, cur]`` (and a last row for the start): I-X may only follow B-X or I-X."""
    import numpy as np

    n = len(tags)
    allowed = np.ones((n + 1, n), dtype=bool)
    for cur, tag in enumerate(tags):
        prefix, label = split_tag(tag)
        if prefix != "I":
            continue
        allowed[n, cur] = False
        for prev, prev_tag in enumerate(tags):
            prev_prefix, prev_label = split_tag(prev_tag)
            allowed[prev, cur] = prev_prefix in ("B", "I") and prev_label == label
    return allowed


def _viterbi(scores: Any, allowed: Any) -> list[int]:
    """Best tag path under the transition constraints (log-probabilities ``scores``: words × tags)."""
    import numpy as np

    penalty = np.where(allowed, 0.0, -1e9)
    words, _ = scores.shape
    best = scores[0] + penalty[-1]
    back = np.zeros(scores.shape, dtype=np.int64)
    for w in range(1, words):
        total = best[:, None] + penalty[:-1]  # prev × cur
        back[w] = np.argmax(total, axis=0)
        best = total[back[w], np.arange(total.shape[1])] + scores[w]
    path = [int(np.argmax(best))]
    for w in range(words - 1, 0, -1):
        path.append(int(back[w, path[-1]]))
    return path[::-1]
