"""Generation with a causal LM (default: the offline SmolLM2-135M-Instruct), LoRA SFT with trl.

Three rules keep training and serving the same task (the reference system saw a model fall to 11% when they
were not):

1. The model's own chat template renders every input, at training (trl applies it) and at prediction (we do).
2. The system prompt is always passed explicitly: the example's own ``system_prompt``, else the config's.
   SmolLM2's template silently injects a default system message when none is given; we never let it.
3. The loss is on the answer only. SmolLM2's template has no ``{% generation %}`` markers, so trl's
   ``assistant_only_loss`` cannot work; instead the data is trl's conversational *prompt–completion* format
   (``prompt`` = system + user turns, ``completion`` = the assistant turn), whose loss covers the completion
   tokens only, including the end-of-turn token, so the model learns to stop. The vocabulary projection runs
   on those positions only (:func:`_completion_loss_trainer`): trl's own fused head projects *every*
   position on a CPU, which made a SmolLM2 LoRA step about a third slower there.

Decoding is greedy. Correctness is an answer checker: a name from :data:`pioneer.metrics.ANSWER_CHECKERS`
(``normalized`` exact match by default, ``numeric`` for arithmetic) or any callable passed to the constructor.

The GGUF base is converted once to safetensors (:mod:`pioneer.models.gguf`); a saved LoRA model holds only its
adapter (a few MB) and names the base model in its config.

A fitted generator can be the start of the next fit (``fit(start_from=production)``: the retrain continues
production's LoRA adapter, or its full weights, instead of starting a new one from the base model), and a candidate
can be :meth:`~GenerationAdapter.blend`-ed back toward production. A retrained 135M model right on a fifth of its
arithmetic problems changed five or six of those answers with each retrain (on an H100), more than a flip
budget of two allows; pulling the candidate part of the way back is the trainer's lever against that, as it is for
the entity tagger.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from pioneer.errors import NotFittedError
from pioneer.events import Output
from pioneer.metrics import ANSWER_CHECKERS, AnswerChecker, check_answer, exact_match
from pioneer.training.base import BaseTrainConfig, Evaluation, Example, ProgressCallback, TaskAdapter
from pioneer.training.interpolation import interpolate
from pioneer.training.persistence import read_manifest, write_manifest
from pioneer.training.runtime import (
    final_loss,
    library_progress,
    pick_device,
    progress_iter,
    quiet_trainer,
    trainer_callback,
    training_arguments,
)

log = logging.getLogger(__name__)

LORA_DIR = "lora"
MODEL_DIR = "model"
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


@dataclass(slots=True, kw_only=True)
class GenerationConfig(BaseTrainConfig):
    """Hyperparameters of :class:`GenerationAdapter`.

    Defaults that differ from :class:`BaseTrainConfig`: ``use_lora`` False → True, ``learning_rate`` 5e-5 → 1e-3
    (LoRA on SmolLM2-135M, 300 arithmetic questions, 3 epochs: 73% exact match at 1e-3, 44.5% at 2e-4; use
    ~2e-5 for full fine-tuning), ``batch_size`` 16 → 8, ``max_length`` 64 → 256 tokens (system + user + answer, as rendered by the chat
    template; longer sequences are cut at the end), ``lora_target_modules`` None → q/k/v/o projections,
    ``eval_batch_size`` 64 → 32.
    """

    use_lora: bool = field(default=True, metadata={"help": "Train LoRA adapters (peft) instead of all weights."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate (~2e-5 for full fine-tuning)."})
    batch_size: int = field(default=8, metadata={"help": "Examples per optimisation step."})
    max_length: int = field(default=256, metadata={"help": "Tokens per rendered conversation at training."})
    lora_target_modules: tuple[str, ...] | None = field(
        default=("q_proj", "k_proj", "v_proj", "o_proj"),
        metadata={"help": "Module names LoRA adapts; None = peft's default for the architecture."},
    )
    eval_batch_size: int = field(default=32, metadata={"help": "Prompts per generate() call."})

    system_prompt: str = field(
        default=DEFAULT_SYSTEM_PROMPT,
        metadata={"help": "The deployment's system prompt, used for every example without its own, at training "
                  "and prediction alike. '' sends an empty system message (never the template's default)."},
    )
    max_new_tokens: int = field(default=64, metadata={"help": "Longest answer generated (greedy decoding)."})
    answer_checker: str = field(
        default="normalized",
        metadata={"help": "How an answer is judged correct (a constructor argument can pass any callable instead).",
                  "choices": sorted(ANSWER_CHECKERS)},
    )

    def validate(self) -> None:
        BaseTrainConfig.validate(self)
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={self.max_new_tokens!r} must be ≥ 1.")
        if self.answer_checker not in ANSWER_CHECKERS:
            raise ValueError(
                f"answer_checker={self.answer_checker!r}; use one of {', '.join(sorted(ANSWER_CHECKERS))}, or pass "
                "answer_checker=<callable> to GenerationAdapter."
            )


class GenerationAdapter(TaskAdapter):
    """Train, predict and evaluate a chat model on (input, reference answer) pairs.

    >>> adapter = GenerationAdapter(GenerationConfig(answer_checker="numeric"))
    >>> adapter.metric_name, adapter.config.use_lora
    ('exact_match', True)
    """

    task: ClassVar[str] = "generation"
    metric_name: ClassVar[str] = "exact_match"
    warm_starts: ClassVar[bool] = True
    """LoRA generators continue from another's adapter (same rank, scaling, modules and base model), fully
    fine-tuned ones from another's weights (same base model); other pairs train from the base model."""
    config_class: ClassVar[type[BaseTrainConfig]] = GenerationConfig
    config: GenerationConfig

    def __init__(self, config: GenerationConfig | None = None, *, answer_checker: AnswerChecker | None = None) -> None:
        super().__init__(config)
        self.answer_checker = answer_checker
        self._model: Any = None
        self._tokenizer: Any = None
        self._device: Any = None
        self._mode = "lora"

    # ------------------------------------------------------------------------------------------------ model

    def _load_base(self) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from pioneer.models import from_pretrained, resolve_causal_lm

        with library_progress(self.config):
            source = resolve_causal_lm(self.config.base_model)
            tokenizer = from_pretrained(AutoTokenizer, source)
            if tokenizer.chat_template is None:
                raise ValueError(
                    f"base_model {source!r} has no chat template; GenerationAdapter needs an instruction-tuned chat "
                    "model."
                )
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            model = from_pretrained(AutoModelForCausalLM, source, dtype=torch.float32)
        return tokenizer, model

    def messages(self, text: str, system_prompt: str | None = None) -> list[dict[str, str]]:
        """The chat turns for one input: always an explicit system message, then the user's text."""
        system = self.config.system_prompt if system_prompt is None else system_prompt
        return [{"role": "system", "content": system}, {"role": "user", "content": text}]

    # ------------------------------------------------------------------------------------------------ fitting

    def _fit(
        self,
        train: Sequence[Example],
        *,
        validation: Sequence[Example] | None,
        progress: ProgressCallback | None,
        start_from: GenerationAdapter | None = None,
    ) -> Self:
        from datasets import Dataset
        from trl import SFTConfig

        cfg = self.config
        _check_targets(train)
        clock = self._begin_fit(train)
        start = self._warm_start_source(start_from, self._warm_start_reasons)
        self._device = pick_device(cfg.device)
        rows = [
            {
                "prompt": self.messages(e.text, e.system_prompt),
                "completion": [{"role": "assistant", "content": str(e.target)}],
            }
            for e in train
        ]
        if start is not None:
            # The given model's weights, copied into a fresh model; a LoRA one already carries its adapter.
            self._tokenizer, model = self._with_weights(start._own_weights())
            model.train()
            peft_config = None
        else:
            self._tokenizer, model = self._load_base()
            peft_config = self._lora_config() if cfg.use_lora else None
        cut, lost = self._truncated(rows)
        steps = math.ceil(math.ceil((len(rows) - lost) / cfg.batch_size) * cfg.epochs)
        with tempfile.TemporaryDirectory(prefix="pioneer-sft-") as scratch:
            args = training_arguments(
                cfg,
                scratch,
                cls=SFTConfig,
                # Whole warm-up steps only: the first warm-up step has learning rate 0, so a ratio rounded up
                # would leave a one-step run untrained.
                warmup_steps=int(cfg.warmup_ratio * steps),
                max_length=cfg.max_length,
                completion_only_loss=True,
                assistant_only_loss=False,
                packing=False,
            )
            trainer = _completion_loss_trainer()(
                model=model,
                args=args,
                train_dataset=Dataset.from_list(rows),
                processing_class=self._tokenizer,
                peft_config=peft_config,
                callbacks=[trainer_callback(progress)] if progress is not None else None,
            )
            quiet_trainer(trainer)
            trainer.train()
        self._model = trainer.model
        self._mode = "lora" if cfg.use_lora else "full"
        if cfg.use_lora:
            self._model.merge_adapter()
        self._model.to(self._device).eval()
        self._end_fit(
            clock, validation, "generator", steps=int(trainer.state.global_step), epochs=cfg.epochs,
            train_loss=final_loss(trainer), lora=cfg.use_lora, warm_start=start is not None,
        )
        self.fit_stats_.update(truncated=float(cut), dropped=float(lost))
        return self

    def _truncated(self, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """(conversations longer than ``max_length``, those whose prompt alone fills it). trl cuts the first at the
        end (the answer loses its tail, and its end-of-turn token) and drops the second (nothing left to learn):
        a ``max_length`` a few tokens short once dropped 89% of a training set without a word."""
        cfg, tokenizer = self.config, self._tokenizer
        cut = lost = 0
        for row in rows:
            prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=True, add_generation_prompt=True,
                                                   return_dict=False)
            whole = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True, return_dict=False)
            cut += len(whole) > cfg.max_length
            lost += len(prompt) >= cfg.max_length
        if lost == len(rows):
            raise ValueError(f"every example's prompt fills max_length={cfg.max_length} tokens; raise max_length")
        if cut:
            log.warning("training conversations longer than max_length", extra={
                "cut": cut, "dropped": lost, "examples": len(rows), "max_length": cfg.max_length})
        return cut, lost

    def _warm_start_reasons(self, start_from: GenerationAdapter) -> list[str]:
        """Why this config cannot continue from ``start_from``'s weights (empty: it can)."""
        return _incompatible(self.config, start_from)

    def _blend_reasons(self, toward: GenerationAdapter) -> list[str]:
        """Why this generator and ``toward`` do not blend (empty: they do)."""
        reasons = _incompatible(self.config, toward)
        if self._mode not in ("lora", "full"):
            reasons.append("an untrained base model has nothing to blend")
        return reasons

    def _lora_config(self) -> Any:
        from peft import LoraConfig

        cfg = self.config
        return LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=list(cfg.lora_target_modules) if cfg.lora_target_modules else None,
            task_type="CAUSAL_LM",
        )

    def _own_weights(self) -> dict[str, Any]:
        """The weights a warm start copies and a blend interpolates: the LoRA adapter's, or every floating-point
        tensor of a full model."""
        if self._mode == "lora":
            from peft import get_peft_model_state_dict

            return {k: v.detach() for k, v in get_peft_model_state_dict(self._model).items()}
        return {k: v.detach() for k, v in self._model.state_dict().items() if v.is_floating_point()}

    def _with_weights(self, weights: dict[str, Any]) -> tuple[Any, Any]:
        """(tokenizer, model): the base model freshly loaded, with ``weights`` (see :meth:`_own_weights`) in it.

        Never a deep copy of a fitted model: after training, its ``forward`` can be a wrapper that still calls the
        original's modules, so a copy with new weights would answer with the old ones.
        """
        import torch

        tokenizer, model = self._load_base()
        with torch.no_grad():
            if self.config.use_lora:
                from peft import get_peft_model, set_peft_model_state_dict

                model = get_peft_model(model, self._lora_config())
                set_peft_model_state_dict(model, weights)
            else:
                model.load_state_dict(weights, strict=False)
        return tokenizer, model

    def blend(self, toward: GenerationAdapter, weight: float) -> GenerationAdapter:
        """``weight`` × this generator + (1 − ``weight``) × ``toward``, both left untouched.

        Full weights are interpolated. LoRA adapters are interpolated factor by factor (A and B), which keeps the
        rank: the ends are exactly the two adapters; in between the update B·A is the straight line between theirs
        up to a term in weight × (1 − weight) × (ΔB·ΔA), small when one adapter continued from the other (the only
        pairs the retrainer blends).
        """
        self._check_blend(toward, weight, self._blend_reasons, "two generators of the same kind")
        weights = interpolate(self._own_weights(), toward._own_weights(), weight)
        blended = type(self)(self.config, answer_checker=self.answer_checker)
        blended._tokenizer, model = self._with_weights(weights)
        if self._mode == "lora":
            model.merge_adapter()
        blended._device, blended._mode = self._device, self._mode
        blended._model = model.to(self._device).eval()
        return blended

    def use_base_model(self) -> Self:
        """Serve the base model untrained (to measure where training starts from). Returns self."""
        self._tokenizer, self._model = self._load_base()
        self._device = pick_device(self.config.device)
        self._model.to(self._device).eval()
        self._mode = "base"
        return self

    # ------------------------------------------------------------------------------------------------ inference

    def _check_fitted(self) -> None:
        if self._model is None:
            raise NotFittedError("GenerationAdapter is not fitted; call fit(), load() or use_base_model().")

    def generate(self, texts: Sequence[str], system_prompts: Sequence[str | None] | None = None) -> list[str]:
        """Greedy answers to ``texts``, each under its own system prompt (None → the config's)."""
        import torch

        self._check_fitted()
        texts = list(texts)
        systems = list(system_prompts) if system_prompts is not None else [None] * len(texts)
        if len(systems) != len(texts):
            raise ValueError(f"{len(systems)} system prompts for {len(texts)} texts; pass one per text (or None).")
        rendered = [
            self._tokenizer.apply_chat_template(self.messages(t, s), tokenize=False, add_generation_prompt=True)
            for t, s in zip(texts, systems, strict=True)
        ]
        order = sorted(range(len(rendered)), key=lambda i: len(rendered[i]))
        size = self.config.eval_batch_size
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        answers: list[str] = [""] * len(texts)
        tokenizer = self._tokenizer
        with torch.inference_mode():
            for indices in progress_iter(batches, total=len(batches), desc="generate", config=self.config):
                inputs = tokenizer(
                    [rendered[i] for i in indices],
                    return_tensors="pt",
                    padding=True,
                    padding_side="left",
                    add_special_tokens=False,
                ).to(self._device)
                output = self._model.generate(
                    **inputs,
                    max_new_tokens=self.config.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
                new_tokens = output[:, inputs["input_ids"].shape[1] :]
                for i, tokens in zip(indices, new_tokens, strict=True):
                    answers[i] = tokenizer.decode(tokens, skip_special_tokens=True).strip()
        return answers

    def predict(self, texts: Sequence[str]) -> list[Output]:
        return [Output(text=answer) for answer in self.generate(texts)]

    def is_correct(self, predicted: str | None, expected: str | None) -> bool:
        """The configured answer checker (or the callable given to the constructor)."""
        return check_answer(self.answer_checker or self.config.answer_checker, predicted, expected)

    def evaluate(self, examples: Sequence[Example]) -> Evaluation:
        _check_targets(examples)
        answers = self.generate([e.text for e in examples], [e.system_prompt for e in examples])
        expected = [e.target for e in examples]
        checker = self.answer_checker or self.config.answer_checker
        return Evaluation(
            metric_name=self.metric_name,
            metric=exact_match(answers, expected, checker),
            ids=[e.id for e in examples],
            correct=[self.is_correct(a, t) for a, t in zip(answers, expected, strict=True)],
            predictions=[Output(text=a) for a in answers],
            extra={"n": float(len(examples))},
        )

    # ------------------------------------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self._mode == "lora":
            self._model.save_pretrained(directory / LORA_DIR)  # the adapter only, as safetensors
        else:
            model = self._model
            model.save_pretrained(directory / MODEL_DIR)
            self._tokenizer.save_pretrained(directory / MODEL_DIR)
        write_manifest(
            directory,
            task=self.task,
            adapter=type(self).__name__,
            config=self.config.to_dict(),
            state={"weights": "lora" if self._mode == "lora" else "full", "fit_stats": self.fit_stats_},
        )

    @classmethod
    def load(cls, directory: Path, *, answer_checker: AnswerChecker | None = None) -> Self:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from pioneer.models import from_pretrained

        directory = Path(directory)
        manifest = read_manifest(directory)
        adapter = cls(GenerationConfig.from_dict(manifest["config"]), answer_checker=answer_checker)
        state = manifest["state"]
        adapter.fit_stats_ = {k: float(v) for k, v in state.get("fit_stats", {}).items()}
        adapter._device = pick_device(adapter.config.device)
        if state["weights"] == "lora":
            from peft import PeftModel

            from pioneer.training.backbone import require_safetensors

            tokenizer, base = adapter._load_base()
            model = PeftModel.from_pretrained(base, str(require_safetensors(directory / LORA_DIR)), is_trainable=False)
            model.merge_adapter()
            adapter._mode = "lora"
        else:
            source = str(directory / MODEL_DIR)
            with library_progress(adapter.config):
                tokenizer = from_pretrained(AutoTokenizer, source)
                model = from_pretrained(AutoModelForCausalLM, source, dtype=torch.float32)
            adapter._mode = "full"
        adapter._tokenizer = tokenizer
        adapter._model = model.to(adapter._device).eval()
        return adapter


def _completion_loss_trainer() -> type:
    """trl's ``SFTTrainer`` with a loss that projects onto the vocabulary only where a label is trained.

    Why: trl replaces the LM head by a chunked log-probability kernel. With Triton (CUDA, XPU) it scores only the
    labelled positions; elsewhere it scores every position, prompt and padding included, to keep tile shapes fixed
    for compiled backends, and recomputes the projection in the backward pass. With SmolLM2's 49k-token vocabulary
    and a completion of a few tokens after a prompt of dozens, a LoRA step on four short conversations took 1.3 s
    of CPU time with trl's head and 0.96 s with this loss (2 cores): the difference is logits thrown away.

    Here the model's own forward computes the logits of the positions that predict a labelled token
    (``logits_to_keep`` as an index tensor: the model still applies its own head, scaling and soft-capping), and
    the loss is their mean cross-entropy, the same objective as trl's (``labels`` are -100 outside the
    completion). trl's entropy and token-accuracy logs are not produced. Models whose forward takes no
    ``logits_to_keep``, padding-free batches (``shift_labels``) and calls that want the outputs fall back to
    trl's implementation, and so does every setting trl's loss handles and this one does not (another
    ``loss_type``, label smoothing, a custom loss function, auxiliary MoE loss, several processes).
    """
    import inspect

    import torch
    from trl import SFTTrainer

    class CompletionLossSFTTrainer(SFTTrainer):
        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            labels = inputs.get("labels")
            forward = getattr(model.get_base_model() if hasattr(model, "get_base_model") else model, "forward")
            if (
                return_outputs
                or labels is None
                or "shift_labels" in inputs
                or "logits_to_keep" not in inspect.signature(forward).parameters
                or self.args.loss_type != "nll"
                or self.label_smoother is not None
                or self.compute_loss_func is not None
                or self.aux_loss_enabled
                or self.accelerator.num_processes > 1
            ):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            targets = labels[:, 1:]  # position p predicts token p + 1
            positions = (targets != -100).any(dim=0).nonzero().squeeze(-1)
            features = {k: v for k, v in inputs.items() if k not in ("labels", "use_cache")}
            logits = model(**features, use_cache=False, logits_to_keep=positions).logits
            kept = targets[:, positions]
            total = torch.nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.size(-1)), kept.reshape(-1), ignore_index=-100, reduction="sum"
            )
            count = num_items_in_batch if num_items_in_batch is not None else (kept != -100).sum()
            return total / torch.as_tensor(count, device=total.device).clamp(min=1)

    return CompletionLossSFTTrainer


def _incompatible(config: GenerationConfig, other: GenerationAdapter) -> list[str]:
    """Why a generator built with ``config`` cannot continue from, or blend with, ``other`` (empty: it can)."""
    theirs = other.config
    reasons = []
    if (other._mode == "lora") != config.use_lora or other._mode == "base":
        reasons.append(f"weights differ in kind ({'lora' if config.use_lora else 'full'} vs {other._mode})")
    if theirs.base_model != config.base_model:
        reasons.append(f"base models differ ({config.base_model!r} vs {theirs.base_model!r})")
    if config.use_lora:
        for name in ("lora_r", "lora_alpha", "lora_target_modules"):
            mine, other_value = getattr(config, name), getattr(theirs, name)
            if name == "lora_target_modules":  # a tuple here, a list after a JSON round trip
                mine, other_value = mine and tuple(mine), other_value and tuple(other_value)
            if mine != other_value:
                reasons.append(f"{name} differs ({mine!r} vs {other_value!r})")
    return reasons


def _check_targets(examples: Sequence[Example]) -> None:
    if not examples:
        raise ValueError("no examples given; pass at least one example.")
    missing = [e.id for e in examples if e.target is None]
    if missing:
        raise ValueError(f"{len(missing)} examples have no target (first: {missing[0]!r}); generation needs target=.")
