"""Token-by-token decoding of a served generation model, with what an OpenAI request asks per call: a token
budget, stop sequences, sampling (temperature, top_p, seed; greedy by default), several choices, and the text
as it may be streamed.

Runs in the inference thread pool (never the event loop). The adapter's own ``generate`` is batch-oriented
and fixed to its configured ``max_new_tokens``; this loop shares its prompt rendering (same tokens, so a greedy
answer here is the adapter's answer) and keeps the KV cache between steps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_COMPLETION_TOKENS = 2048
"""Most tokens one choice may ask for: one request cannot hold the inference thread for long."""
MAX_CHOICES = 4
"""Most choices (``n``) per request; they are decoded one after another."""


@dataclass(frozen=True, slots=True)
class Sampling:
    """How one request decodes: greedy unless ``temperature`` > 0, or ``top_p`` < 1 without a temperature."""

    max_tokens: int
    stop: tuple[str, ...] = ()
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        if self.temperature is not None:
            return self.temperature == 0
        return self.top_p is None or self.top_p >= 1


@dataclass(frozen=True, slots=True)
class Delta:
    """Text of choice ``index`` that may be sent now (it cannot turn into a stop sequence any more)."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    """Choice ``index`` is done: its whole text, why it ended, and the tokens the model generated for it."""

    index: int
    text: str
    finish_reason: str
    """``stop`` (end of turn or a stop sequence) or ``length`` (the token budget ran out)."""
    completion_tokens: int


def sendable(text: str, stops: tuple[str, ...]) -> tuple[int, bool]:
    """(how much of ``text`` may be sent, whether a stop sequence ended it). Text that could still become a stop
    sequence, or an incomplete UTF-8 character (decoded as U+FFFD), is held back.

    >>> sendable("hello wor", ("world",)), sendable("hello world!", ("world",)), sendable("ab", ())
    ((6, False), (6, True), (2, False))
    """
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    if found:
        return min(found), True
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:k]):
                hold = k
                break
    end = len(text) - hold
    while end > 0 and text[end - 1] == "\ufffd":
        end -= 1
    return end, False


class ChatModel:
    """A loaded generation adapter, seen as a tokenizer and a causal LM (see the module docstring)."""

    def __init__(self, adapter: Any) -> None:
        tokenizer, model = getattr(adapter, "_tokenizer", None), getattr(adapter, "_model", None)
        if tokenizer is None or model is None or not hasattr(adapter, "messages"):
            raise TypeError(f"{type(adapter).__name__} is not a loaded generation adapter")
        self.adapter, self.tokenizer, self.model = adapter, tokenizer, model
        self.device = getattr(adapter, "_device", None) or model.device
        eos = model.generation_config.eos_token_id if getattr(model, "generation_config", None) else None
        self.eos = {tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        self.context = int(getattr(model.config, "max_position_embeddings", 0) or 2048)

    def prompt(self, system: str | None, text: str) -> list[int]:
        """The prompt's token ids, rendered exactly as the adapter renders it for ``generate``."""
        rendered = self.tokenizer.apply_chat_template(self.adapter.messages(text, system), tokenize=False,
                                                      add_generation_prompt=True)
        return list(self.tokenizer(rendered, add_special_tokens=False)["input_ids"])

    def choices(self, prompt: list[int], sampling: Sampling, n: int,
                cancelled: threading.Event | None = None) -> Iterator[Delta | Finished]:
        """Decode ``n`` choices one after another; greedy choices are identical, so one is decoded and repeated."""
        import torch

        generator = torch.Generator(device="cpu")
        if sampling.seed is not None:
            generator.manual_seed(sampling.seed)
        else:
            generator.seed()
        first: Finished | None = None
        for index in range(n):
            if first is not None and sampling.greedy:
                yield Delta(index, first.text)
                yield Finished(index, first.text, first.finish_reason, first.completion_tokens)
                continue
            for event in self._one(index, prompt, sampling, generator, cancelled):
                yield event
                if isinstance(event, Finished):
                    first = first or event

    def _one(self, index: int, prompt: list[int], sampling: Sampling, generator: Any,
             cancelled: threading.Event | None) -> Iterator[Delta | Finished]:
        import torch

        ids = torch.tensor([prompt], device=self.device)
        past: Any = None
        tokens: list[int] = []
        sent, reason = 0, "length"
        with torch.inference_mode():
            while len(tokens) < sampling.max_tokens:
                if cancelled is not None and cancelled.is_set():
                    return
                out = self.model(input_ids=ids, past_key_values=past, use_cache=True)
                past = out.past_key_values
                token = pick(out.logits[0, -1].float(), sampling, generator)
                tokens.append(token)
                if token in self.eos:
                    reason = "stop"
                    break
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                end, stopped = sendable(text, sampling.stop)
                if end > sent:
                    yield Delta(index, text[sent:end])
                    sent = end
                if stopped:
                    yield Finished(index, text[:end], "stop", len(tokens))
                    return
                ids = torch.tensor([[token]], device=self.device)
        # the end: text held back as a possible stop sequence never became one, so it is sent after all
        text = self.tokenizer.decode([t for t in tokens if t not in self.eos], skip_special_tokens=True)
        if len(text) > sent:
            yield Delta(index, text[sent:])
        yield Finished(index, text, reason, len(tokens))


def pick(logits: Any, sampling: Sampling, generator: Any) -> int:
    """The next token: the most likely (greedy), or a draw from the temperature-scaled, top_p-truncated distribution."""
    import torch

    if sampling.greedy:
        return int(torch.argmax(logits))
    temperature = 1.0 if sampling.temperature is None else sampling.temperature
    probs = torch.softmax(logits.cpu() / temperature, dim=-1)  # on the CPU, where the seeded generator lives
    if sampling.top_p is not None and sampling.top_p < 1:
        ordered, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(ordered, 0) - ordered < sampling.top_p  # the smallest head holding top_p of the mass
        keep[0] = True
        drawn = torch.multinomial(ordered * keep, 1, generator=generator)
        return int(order[drawn])
    return int(torch.multinomial(probs, 1, generator=generator))
