"""Small heads over a Hugging Face encoder: a sentence classifier and a token tagger with casing features.

Why not ``AutoModelForSequenceClassification``: BERT's head reads the pooler (CLS + tanh), which
sentence-transformers checkpoints such as all-MiniLM-L6-v2 never trained; they were trained on the mean of the
token states, normalised. :class:`SentenceClassifier` classifies exactly that embedding, so a linear probe fitted on
frozen sentence embeddings (strategy ``head``) *is* this model's head, and fine-tuning can start from it.

Why not ``AutoModelForTokenClassification``: the offline encoder is uncased, and capitals are most of what tells
an entity apart in news text. :class:`TokenTagger` adds a learned casing embedding (one of :data:`CASING_CLASSES`
per word) to the word-piece embeddings before the encoder, initialised at zero so training starts from the
pretrained model unchanged and the encoder's attention can combine casing with context; the classifier also
reads the casing class directly (one-hot), which works from the first step.

Both return transformers ``ModelOutput``s, so the ``Trainer`` trains them like any model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput, TokenClassifierOutput

CASING_CLASSES = ("none", "lower", "title", "upper", "mixed", "digit", "other")
"""Casing class of a word: ``none`` for special/pad tokens, then by the word's letters: all lower, capitalised
first letter, all upper (2+ letters), mixed; no letters: has a digit, or other (punctuation, symbols)."""


def casing_class(word: str) -> int:
    """Index into :data:`CASING_CLASSES` for ``word``.

    >>> [CASING_CLASSES[casing_class(w)] for w in ["paris", "Paris", "EU", "I", "iPhone", "1996", ","]]
    ['lower', 'title', 'upper', 'title', 'mixed', 'digit', 'other']
    """
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return 5 if any(c.isdigit() for c in word) else 6
    if all(c.islower() for c in letters):
        return 1
    if all(c.isupper() for c in letters):
        return 3 if len(letters) > 1 else 2
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return 2
    return 4


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states that the mask keeps (sentence-transformers' ``pooling_mode_mean_tokens``)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def _encoder_inputs(input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None) -> dict[str, Any]:
    inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        inputs["token_type_ids"] = token_type_ids
    return inputs


class SentenceClassifier(nn.Module):
    """``Linear(normalize(mean_pool(encoder(text))))``; see the module docstring for why this shape."""

    def __init__(
        self, encoder: nn.Module, num_labels: int, *, normalize: bool = True, dropout: float = 0.0,
        extra_features: int = 0,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = getattr(encoder, "config", None)
        self.normalize = normalize
        self.dropout = nn.Dropout(dropout)
        hidden = int(encoder.config.hidden_size)
        # ``extra_features``: inputs of the classifier beyond the embedding (a frozen-encoder head's hashed
        # n-grams), which the caller appends; ``forward`` (fine-tuning) uses the embedding alone and needs 0.
        self.classifier = nn.Linear(hidden + extra_features, num_labels)

    def embed(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        hidden = self.encoder(**_encoder_inputs(input_ids, attention_mask, token_type_ids)).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)
        return nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        logits = self.classifier(self.dropout(self.embed(input_ids, attention_mask, token_type_ids)))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class TokenTagger(nn.Module):
    """Per-token tag logits from the encoder, with an optional casing embedding added to the input embeddings."""

    def __init__(self, encoder: nn.Module, num_tags: int, *, casing: bool = True, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = getattr(encoder, "config", None)
        hidden = int(encoder.config.hidden_size)
        self.casing = nn.Embedding(len(CASING_CLASSES), hidden) if casing else None
        if self.casing is not None:
            nn.init.zeros_(self.casing.weight)
        self.dropout = nn.Dropout(dropout)
        # With casing on, the classifier also sees the word's casing class directly (one-hot), so a capital can
        # matter from the first step, while the input embedding above lets the encoder learn to use it in context.
        extra = len(CASING_CLASSES) if casing else 0
        self.classifier = nn.Linear(hidden + extra, num_tags)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        casing_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> TokenClassifierOutput:
        inputs = _encoder_inputs(input_ids, attention_mask, token_type_ids)
        if self.casing is not None and casing_ids is not None:
            embeddings = self.encoder.get_input_embeddings()(input_ids) + self.casing(casing_ids)
            inputs = {k: v for k, v in inputs.items() if k != "input_ids"}
            inputs["inputs_embeds"] = embeddings
        hidden = self.dropout(self.encoder(**inputs).last_hidden_state)
        if self.casing is not None:
            if casing_ids is None:
                raise ValueError("this tagger was built with casing features; pass casing_ids.")
            one_hot = nn.functional.one_hot(casing_ids, len(CASING_CLASSES)).to(hidden.dtype)
            hidden = torch.cat([hidden, one_hot], dim=-1)
        logits = self.classifier(hidden)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        return TokenClassifierOutput(loss=loss, logits=logits)

    def head_state(self) -> dict[str, torch.Tensor]:
        """The tensors outside the encoder (classifier, casing), for saving next to it."""
        state = {f"classifier.{k}": v for k, v in self.classifier.state_dict().items()}
        if self.casing is not None:
            state["casing.weight"] = self.casing.weight
        return {k: v.detach().cpu().contiguous() for k, v in state.items()}

    def load_head_state(self, state: dict[str, torch.Tensor]) -> None:
        self.classifier.load_state_dict({k.removeprefix("classifier."): v for k, v in state.items() if k.startswith("classifier.")})
        if self.casing is not None and "casing.weight" in state:
            self.casing.weight.data.copy_(state["casing.weight"])
