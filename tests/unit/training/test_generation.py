"""GenerationAdapter: SmolLM2 from its GGUF, a real tiny LoRA SFT run, completion-only loss, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest

from pioneer.metrics import ANSWER_CHECKERS
from pioneer.models import resolve_causal_lm
from pioneer.training import GenerationAdapter, GenerationConfig, load_adapter
from tests.unit.training.synthetic import (
    arithmetic_data,
    assert_no_pickles,
    saved_files,
)

pytestmark = pytest.mark.slow

TRAIN = arithmetic_data(32, seed=0, split="train")
TEST = arithmetic_data(8, seed=1, split="test")
SYSTEM = "Answer arithmetic questions in one sentence."


def _config(**changes: object) -> GenerationConfig:
    values = dict(
        epochs=2.0, batch_size=8, learning_rate=2e-3, max_length=64, max_new_tokens=8, system_prompt=SYSTEM, lora_r=8
    )
    values.update(changes)
    return GenerationConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained() -> GenerationAdapter:
    return GenerationAdapter(_config()).fit(TRAIN)


def test_gguf_converts_once_to_plain_safetensors() -> None:
    folder = Path(resolve_causal_lm(None))
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists()
    assert resolve_causal_lm(None) == str(folder)  # cached: the same folder, no second conversion
    import json

    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.eos_token == "<|im_end|>"  # the GGUF metadata's eos, not transformers' mis-read <|im_start|>


def test_prompts_always_carry_an_explicit_system_message() -> None:
    adapter = GenerationAdapter(_config())
    messages = adapter.messages("What is 1 plus 1?")
    assert messages[0] == {"role": "system", "content": SYSTEM}
    assert adapter.messages("hi", "Be brief.")[0]["content"] == "Be brief."
    assert adapter.messages("hi", "")[0] == {"role": "system", "content": ""}


def test_sft_learns_the_answer_format_on_held_out_questions(trained: GenerationAdapter) -> None:
    assert trained.fit_stats_["steps"] == 8  # 32 examples / batch 8 × 2 epochs
    evaluation = trained.evaluate(TEST)
    answers = [p.text or "" for p in evaluation.predictions]
    assert sum(a.startswith("The answer is") for a in answers) >= 6, answers
    assert evaluation.metric_name == "exact_match"
    assert evaluation.metric == pytest.approx(sum(evaluation.correct) / len(TEST))
    # The untrained model does not answer in the trained format at all.
    base = GenerationAdapter(_config()).use_base_model().generate([e.text for e in TEST[:4]])
    assert not any(a.startswith("The answer is") for a in base), base


def test_loss_is_on_the_completion_only(trained: GenerationAdapter) -> None:
    from datasets import Dataset
    from trl import SFTTrainer

    from pioneer.training.runtime import training_arguments

    tokenizer = trained._tokenizer
    row = {"prompt": trained.messages(TRAIN[0].text), "completion": [{"role": "assistant", "content": TRAIN[0].target}]}
    import tempfile

    from trl import SFTConfig

    with tempfile.TemporaryDirectory() as scratch:
        args = training_arguments(_config(), scratch, cls=SFTConfig, max_length=64, completion_only_loss=True)
        prepared = SFTTrainer(
            model=trained._model, args=args, train_dataset=Dataset.from_list([row]), processing_class=tokenizer
        ).train_dataset[0]
    trained_on = tokenizer.decode([t for t, label in zip(prepared["input_ids"], prepared["labels"]) if label != -100])
    assert trained_on.startswith(TRAIN[0].target) and "<|im_end|>" in trained_on
    assert SYSTEM not in trained_on and TRAIN[0].text not in trained_on
    # The served prompt is exactly the trained prefix: same template, same explicit system message.
    served = tokenizer.apply_chat_template(trained.messages(TRAIN[0].text), tokenize=False, add_generation_prompt=True)
    assert tokenizer.decode(prepared["input_ids"]).startswith(served)
    assert "SmolLM" not in served


def test_the_completion_only_projection_computes_trl_s_loss(trained: GenerationAdapter) -> None:
    """The cheaper loss (logits of labelled positions only) is the same number as trl's on a real padded batch."""
    import tempfile

    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from pioneer.training.generation import _completion_loss_trainer
    from pioneer.training.runtime import training_arguments

    rows = [  # prompts and answers of different lengths, so the batch is padded and the answers sit apart
        {"prompt": trained.messages(e.text), "completion": [{"role": "assistant", "content": e.target}]}
        for e in TRAIN[:4]
    ]
    rows[1]["completion"][0]["content"] += " Then add the other term once more."
    with tempfile.TemporaryDirectory() as scratch:
        args = training_arguments(_config(batch_size=4), scratch, cls=SFTConfig, completion_only_loss=True)
        trainer = _completion_loss_trainer()(
            model=trained._model, args=args, train_dataset=Dataset.from_list(rows), processing_class=trained._tokenizer
        )
        batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
        with torch.no_grad():
            for items in (None, torch.tensor(30)):
                ours = trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=items)
                theirs = SFTTrainer.compute_loss(trainer, trainer.model, dict(batch), num_items_in_batch=items)
                assert ours.item() == pytest.approx(theirs.item(), rel=1e-4), (items, ours, theirs)
    assert len({int(n) for n in batch["attention_mask"].sum(dim=1)}) > 1  # the batch really was padded


def test_save_holds_only_the_lora_adapter_and_reloads(trained: GenerationAdapter, tmp_path: Path) -> None:
    trained.save(tmp_path / "m")
    files = saved_files(tmp_path / "m")
    assert {"pioneer_adapter.json", "lora/adapter_model.safetensors", "lora/adapter_config.json"} <= files
    assert not any(f.endswith("model.safetensors") and not f.startswith("lora/") for f in files)
    assert_no_pickles(tmp_path / "m")
    reloaded = load_adapter(tmp_path / "m")
    texts = [e.text for e in TEST[:4]]
    assert reloaded.predict(texts) == trained.predict(texts)
    reloaded.save(tmp_path / "again")
    assert saved_files(tmp_path / "again") == files


def _lora_weights(adapter: GenerationAdapter) -> dict[str, object]:
    from peft import get_peft_model_state_dict

    return {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(adapter._model).items()}


def test_warm_start_continues_the_given_adapter_and_leaves_it_untouched(trained: GenerationAdapter) -> None:
    import torch

    texts = [e.text for e in TEST[:4]]
    before, weights = trained.generate(texts), _lora_weights(trained)
    # One step at a learning rate of ~0 (a 0-epoch fit is refused): a warm start reproduces the adapter, a cold
    # start (LoRA's B initialised to zero) is the untrained base model, which does not answer in the trained format.
    still = _config(epochs=1.0, learning_rate=1e-12)
    warm = GenerationAdapter(still).fit(TRAIN[:8], start_from=trained)
    assert warm.generate(texts) == before
    assert all(torch.allclose(v, weights[k], atol=1e-6) for k, v in _lora_weights(warm).items())
    cold = GenerationAdapter(still).fit(TRAIN[:8])
    assert cold.generate(texts) != before
    # Real steps from the warm start move the copy, never the original.
    moved = GenerationAdapter(_config(epochs=1.0)).fit(TRAIN[:8], start_from=trained)
    assert any(not torch.equal(v, weights[k]) for k, v in _lora_weights(moved).items())
    assert all(torch.equal(v, weights[k]) for k, v in _lora_weights(trained).items())
    assert trained.generate(texts) == before


def test_blend_interpolates_the_lora_factors_and_leaves_both_untouched(trained: GenerationAdapter) -> None:
    import torch

    texts = [e.text for e in TEST[:4]]
    other = GenerationAdapter(_config(epochs=1.0, learning_rate=5e-3)).fit(TRAIN[16:24], start_from=trained)
    mine, theirs = _lora_weights(trained), _lora_weights(other)
    half = other.blend(trained, 0.5)
    blended = _lora_weights(half)
    key = next(k for k in mine if not torch.equal(mine[k], theirs[k]))
    assert torch.allclose(blended[key], 0.5 * mine[key] + 0.5 * theirs[key], atol=1e-6)
    # The ends are the two adapters themselves (merged into the served weights), and neither input changed.
    assert other.blend(trained, 1.0).generate(texts) == other.generate(texts)
    assert other.blend(trained, 0.0).generate(texts) == trained.generate(texts)
    assert all(torch.equal(v, theirs[k]) for k, v in _lora_weights(other).items())
    with pytest.raises(ValueError, match="weight"):
        other.blend(trained, 1.5)


def test_adapters_of_another_shape_neither_warm_start_nor_blend(trained: GenerationAdapter) -> None:
    import copy

    other_rank = GenerationAdapter(_config(lora_r=4))
    def source(adapter: GenerationAdapter) -> GenerationAdapter | None:
        return adapter._warm_start_source(trained, adapter._warm_start_reasons)

    assert source(other_rank) is None  # trains from the base model instead (logged)
    assert source(GenerationAdapter(_config(use_lora=False))) is None
    assert source(GenerationAdapter(_config())) is trained
    reshaped = copy.copy(trained)
    reshaped.config = _config(lora_r=4)
    with pytest.raises(ValueError, match="lora_r differs"):
        reshaped.blend(trained, 0.5)
    with pytest.raises(ValueError, match="nothing to blend"):
        GenerationAdapter(_config()).use_base_model().blend(trained, 0.5)


def test_answer_checkers_are_pluggable() -> None:
    assert set(ANSWER_CHECKERS) == {"exact", "normalized", "numeric"}
    adapter = GenerationAdapter(_config(answer_checker="numeric"))
    assert adapter.is_correct("It is 12.", "The answer is 12.")
    custom = GenerationAdapter(_config(), answer_checker=lambda got, want: (got or "").endswith("!"))
    assert custom.is_correct("yes!", "no") and not custom.is_correct("yes", "yes")
    with pytest.raises(ValueError, match="answer_checker"):
        GenerationAdapter(_config(answer_checker="fuzzy"))


def test_a_one_step_run_trains_despite_a_warm_up_ratio() -> None:
    # transformers rounds a warm-up ratio up to one step, and the first warm-up step has learning rate 0.
    one_step = GenerationAdapter(_config(epochs=1.0, batch_size=4, warmup_ratio=0.1)).fit(TRAIN[:4])
    assert one_step.fit_stats_["steps"] == 1
    assert any(v.abs().sum() > 0 for k, v in _lora_weights(one_step).items() if "lora_B" in k)  # B starts at 0


def test_conversations_longer_than_max_length_are_counted_and_all_lost_is_an_error() -> None:
    # Prompts (system + question, chat template) are about 30 tokens: at 34 the answers are cut, at 20 all lost.
    cut = GenerationAdapter(_config(epochs=1.0, batch_size=4, max_length=34)).fit(TRAIN[:4])
    assert cut.fit_stats_["truncated"] == 4 and cut.fit_stats_["dropped"] == 0
    with pytest.raises(ValueError, match="max_length"):
        GenerationAdapter(_config(epochs=1.0, batch_size=4, max_length=20)).fit(TRAIN[:4])
