"""What SmolLM2-135M learns in a few CPU steps: arithmetic answered as a bare number or as an equation.

The same word problems (numbers up to ``--largest``), the same LoRA run (``--train`` problems, batch 4, one
epoch, learning rate 2e-3, rank 8, no warm-up), once with bare-number answers (``11``) and once with equations
(``7 + 4 = 11``); both scored on ``--test`` fresh problems with the numeric checker (the last number). Also the
base model with the equation prompt, untrained. The quick AdaptFT arithmetic scenario's settings were chosen with
this comparison on seed 0; its bench figures are on other problems (the bench's generated traffic).

    python scripts/bench_generation_format.py                 # 32 training problems, 60 test problems
    python scripts/bench_generation_format.py --train 64 --seed 1
"""

from __future__ import annotations

import argparse
import os
import time

from pioneer.synthetic.arithmetic import ArithmeticTask
from pioneer.training import GenerationAdapter, GenerationConfig


def config(task: ArithmeticTask) -> GenerationConfig:
    return GenerationConfig(epochs=1.0, batch_size=4, learning_rate=2e-3, max_length=96, max_new_tokens=12, lora_r=8,
                            lora_alpha=16, warmup_ratio=0.0, answer_checker="numeric",
                            system_prompt=task.system_prompt, progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--largest", type=int, default=9)
    parser.add_argument("--train", type=int, default=32)
    parser.add_argument("--test", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for answer_format in ("equation", "number"):
        task = ArithmeticTask(seed=args.seed, largest=args.largest, answer_format=answer_format)
        train = task.examples(args.train, stream="format-train")
        test = task.examples(args.test, stream="format-test")
        if answer_format == "equation":
            base = GenerationAdapter(config(task)).use_base_model().evaluate(test)
            print(f"untrained base model, equation prompt: {base.metric:.3f} on {len(test)} problems", flush=True)
        started = time.perf_counter()
        adapter = GenerationAdapter(config(task)).fit(train)
        fitted = time.perf_counter() - started
        evaluation = adapter.evaluate(test)
        answers = [p.text for p in evaluation.predictions[:3]]
        print(f"{answer_format:8s}: {evaluation.metric:.3f} on {len(test)} problems after "
              f"{int(adapter.fit_stats_['steps'])} steps ({fitted:.0f} s to fit); e.g. {answers}", flush=True)


if __name__ == "__main__":
    main()
