"""Time to first token of a streamed chat completion vs the latency of the same completion not streamed, through
the official ``openai`` client against ``pioneer serve`` running as its own process.

Without ``--base-url`` it trains the tiny generation model (SmolLM2-135M-Instruct, a LoRA adapter after one
step on generated arithmetic questions) into a temporary PIONEER_HOME and starts ``pioneer serve`` (no Kafka).
Each round asks the same greedy question twice, streamed and not, in alternating order so drift on a shared
machine hits both alike, with ``--max-tokens`` tokens; the question asks for a long answer so that the budget,
not the end of the model's turn, ends both (the completion tokens are printed to show it).

    python scripts/bench_chat_latency.py                          # 5 rounds of 32 tokens
    python scripts/bench_chat_latency.py --rounds 10 --max-tokens 64
    python scripts/bench_chat_latency.py --base-url http://127.0.0.1:8000/v1 --model smol --api-key KEY

Ceiling: a streamed first token should arrive in about the time of the prompt's forward pass plus one decoding
step, a small fraction of the non-streamed latency (which grows with the tokens generated).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
QUESTION = "Explain in a few sentences how to add two numbers with carrying."


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="A running server's /v1 URL (default: train and start one)")
    parser.add_argument("--model", default="smol")
    parser.add_argument("--api-key", default="unused-without-keys")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=32)
    return parser


def train(home: Path, model: str) -> str:
    """The tiny generator, trained and released in ``home``'s registry; its version."""
    from pioneer.events import GateReport
    from pioneer.registry import FileRegistry, VersionInfo
    from pioneer.training import Example, GenerationAdapter, GenerationConfig

    train = [Example(text=f"What is {a} plus {b}?", target=f"The answer is {a + b}.", id=f"add-{a}-{b}")
             for a, b in ((1, 2), (3, 4), (2, 5), (6, 1))]
    config = GenerationConfig(epochs=1.0, batch_size=4, learning_rate=1e-3, max_length=48, max_new_tokens=16, lora_r=4)
    adapter = GenerationAdapter(config).fit(train)
    registry = FileRegistry(home / "registry")
    info = VersionInfo(mode="train", gate_report=GateReport(passed=True, baseline_version=None, checks=[], notes=["bench"]))
    version = registry.register_version(model, adapter, info).version
    registry.move_alias(model, "production", version, kind="release")
    return version


def start_server(home: Path, model: str) -> tuple[subprocess.Popen[bytes], str]:
    """``pioneer serve`` of ``home``'s registry, without Kafka; returns (process, /v1 URL) once ready."""
    import httpx

    from streams.brokers import free_port

    port = free_port()
    env = {**os.environ, "PIONEER_HOME": str(home), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from pioneer.cli import main; main()", "--log-level", "WARNING", "serve", "--model",
         model, "--registry", str(home / "registry"), "--port", str(port), "--no-follow", "--no-log-inferences"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pioneer serve exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return process, f"http://127.0.0.1:{port}/v1"
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise TimeoutError("pioneer serve did not become ready")


def measure(base_url: str, model: str, api_key: str, rounds: int, max_tokens: int) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=600)
    ask = {"model": model, "messages": [{"role": "user", "content": QUESTION}], "max_tokens": max_tokens}
    client.chat.completions.create(**ask)  # warm-up, not counted

    def streamed() -> tuple[float, float, int]:
        started = time.perf_counter()
        first = None
        tokens = 0
        for chunk in client.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True}):
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - started
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        return first or float("nan"), time.perf_counter() - started, tokens

    def whole() -> tuple[float, int]:
        started = time.perf_counter()
        answer = client.chat.completions.create(**ask)
        return time.perf_counter() - started, answer.usage.completion_tokens

    ttft, stream_total, plain, counts = [], [], [], set()
    for i in range(rounds):
        order = (streamed, whole) if i % 2 == 0 else (whole, streamed)
        for run in order:
            if run is streamed:
                first, total, tokens = streamed()
                ttft.append(first)
                stream_total.append(total)
            else:
                total, tokens = whole()
                plain.append(total)
            counts.add(tokens)
    print(f"{rounds} rounds, {sorted(counts)} completion tokens, greedy, one client at a time ({base_url})")
    print(f"streamed      time to first token  median {statistics.median(ttft) * 1000:7.0f} ms   "
          f"(min {min(ttft) * 1000:.0f}, max {max(ttft) * 1000:.0f})")
    print(f"streamed      time to last token   median {statistics.median(stream_total) * 1000:7.0f} ms")
    print(f"not streamed  total latency        median {statistics.median(plain) * 1000:7.0f} ms   "
          f"(min {min(plain) * 1000:.0f}, max {max(plain) * 1000:.0f})")
    share = statistics.median(ttft) / statistics.median(plain)
    print(f"first token after {share:.1%} of the non-streamed latency "
          f"(ceiling: about 1/{max(counts)} of it plus the prompt's forward pass)")


def main() -> None:
    args = make_parser().parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.base_url:
        measure(args.base_url, args.model, args.api_key, args.rounds, args.max_tokens)
        return
    with tempfile.TemporaryDirectory(prefix="pioneer-chat-bench-") as home:
        cache = Path(os.environ.get("PIONEER_HOME", Path.home() / ".pioneer")) / "cache"
        if cache.is_dir():  # the converted base model is cached there: reuse it
            (Path(home) / "cache").symlink_to(cache, target_is_directory=True)
        train(Path(home), args.model)
        process, url = start_server(Path(home), args.model)
        try:
            measure(url, args.model, args.api_key, args.rounds, args.max_tokens)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


if __name__ == "__main__":
    main()
