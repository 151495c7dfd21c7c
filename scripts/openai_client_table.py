"""Call a running ``pioneer serve`` (a generation model) the way a new user would with the official ``openai``
client, and print what each call got as a Markdown table: token budgets, the model's own limit, usage, stop
sequences, unsupported fields, streaming, invalid requests and models.retrieve.

    python scripts/openai_client_table.py --base-url http://127.0.0.1:8000/v1 --model smol [--api-key KEY]

(``scripts/bench_chat_latency.py`` shows how to train and serve the tiny generation model.)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import openai

QUESTION = [{"role": "user", "content": "What is 2 plus 3?"}]


def describe(answer: Any) -> str:
    choice = answer.choices[0]
    return (f"{choice.message.content!r}, finish_reason={choice.finish_reason!r}, "
            f"usage={answer.usage.prompt_tokens}+{answer.usage.completion_tokens}={answer.usage.total_tokens}")


def attempt(call: Callable[[], str]) -> str:
    try:
        return call()
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        return (f"{exc.status_code} {type(exc).__name__}: param={body.get('param')!r} code={body.get('code')!r} "
                f"message={str(body.get('message'))[:90]!r}")


def rows(client: openai.OpenAI, model: str) -> list[tuple[str, str]]:
    def ask(**fields: Any) -> Any:
        return client.chat.completions.create(**{"model": model, "messages": QUESTION, **fields})

    def stream() -> str:
        chunks = list(ask(stream=True, max_tokens=8, stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        return (f"{len(chunks)} chunks, text {text!r}, finish_reason={reasons}, "
                f"usage chunk completion_tokens={chunks[-1].usage.completion_tokens}, then [DONE]")

    tool = {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}
    calls: list[tuple[str, Callable[[], str]]] = [
        ("`max_tokens=1`", lambda: describe(ask(max_tokens=1))),
        ("`max_tokens=2`", lambda: describe(ask(max_tokens=2))),
        ("`max_tokens=50`", lambda: describe(ask(max_tokens=50))),
        ("`max_completion_tokens=2`", lambda: describe(ask(max_completion_tokens=2))),
        ("no budget (the model's max_new_tokens)", lambda: describe(ask())),
        ("`stop=[\" \"]`, `max_tokens=8`", lambda: describe(ask(stop=[" "], max_tokens=8))),
        ("`temperature=1.2, seed=7` twice", lambda: " / ".join(
            repr(ask(temperature=1.2, seed=7, max_tokens=6).choices[0].message.content) for _ in range(2))),
        ("`n=2, temperature=1.2`", lambda: repr([c.message.content for c in ask(n=2, temperature=1.2,
                                                                                max_tokens=6).choices])),
        ("`response_format={\"type\": \"json_object\"}`", lambda: describe(ask(response_format={"type": "json_object"}))),
        ("`tools=[...]`", lambda: describe(ask(tools=[tool]))),
        ("`stream=True`", stream),
        ("`messages=[]`", lambda: describe(ask(messages=[]))),
        (f"`models.retrieve({model!r})`", lambda: repr(client.models.retrieve(model).model_dump())),
        ("`models.retrieve('gpt-4o')`", lambda: repr(client.models.retrieve("gpt-4o"))),
    ]
    return [(name, attempt(call)) for name, call in calls]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default="smol")
    parser.add_argument("--api-key", default="unused-without-keys")
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=300)
    print(f"openai {openai.__version__} against {args.base_url}\n\n| call | observed |\n| --- | --- |")
    for name, observed in rows(client, args.model):
        print(f"| {name} | {observed.replace('|', '/')} |")


if __name__ == "__main__":
    main()
