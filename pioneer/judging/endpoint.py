"""A judge behind an OpenAI-compatible chat-completions endpoint (vLLM, Ollama, OpenAI, ``pioneer serve``).

The judge model is asked for one JSON object, ``{"verdict": "pass"|"fail", "score": 0..1, "reason": "..."}``,
and its reply is read strictly: anything else (prose, a missing field, a score out of range) raises
:class:`~pioneer.judging.base.JudgeError` of kind ``invalid_reply``, so a confused judge never becomes a label.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

import orjson

from pioneer.chat import ChatEndpoint, ChatError
from pioneer.events import InferenceLog
from pioneer.judging.base import Judge, JudgeError, Verdict
from pioneer.judging.checkers import answer_of

RUBRIC = (
    "You grade one answer of an assistant. Reply with a single JSON object and nothing else: "
    '{"verdict": "pass" or "fail", "score": a number from 0 to 1 (how sure you are the answer is right), '
    '"reason": one short sentence}.'
)
MAX_REPLY_CHARS = 20_000
_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL)


def parse_verdict(content: object, judge: str) -> Verdict:
    """The verdict in a judge model's reply, or :class:`JudgeError` saying why the reply is not one.

    >>> parse_verdict('{"verdict": "fail", "score": 0.2, "reason": "wrong sum"}', "j").verdict
    'fail'
    >>> parse_verdict("It looks right to me.", "j")
    Traceback (most recent call last):
    ...
    pioneer.judging.base.JudgeError: the judge's reply is not JSON: 'It looks right to me.'
    """
    if not isinstance(content, str) or not content.strip():
        raise JudgeError("invalid_reply", "the judge's reply has no text content")
    text = content.strip()[:MAX_REPLY_CHARS]
    fenced = _FENCE.match(text)
    try:
        data = orjson.loads(fenced.group(1) if fenced else text)
    except orjson.JSONDecodeError:
        raise JudgeError("invalid_reply", f"the judge's reply is not JSON: {text[:200]!r}") from None
    if not isinstance(data, dict):
        raise JudgeError("invalid_reply", f"the judge's reply is not a JSON object: {text[:200]!r}")
    verdict, score, reason = data.get("verdict"), data.get("score"), data.get("reason", "")
    if verdict not in ("pass", "fail"):
        raise JudgeError("invalid_reply", f"verdict must be 'pass' or 'fail', got {verdict!r}")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score) or not 0 <= score <= 1:
        raise JudgeError("invalid_reply", f"score must be a number in [0, 1], got {score!r}")
    if not isinstance(reason, str):
        raise JudgeError("invalid_reply", f"reason must be a string, got {type(reason).__name__}")
    return Verdict(verdict=verdict, score=float(score), reason=reason[:1000], judge=judge)


class EndpointJudge(Judge):
    """Asks a chat model behind an OpenAI-compatible endpoint to grade each answer.

    Parameters
    ----------
    chat
        The endpoint and the judge model's name there.
    rubric
        The system prompt: what a right answer is, and the reply format.
    max_tokens
        Longest reply asked for.
    """

    def __init__(self, chat: ChatEndpoint, *, rubric: str = RUBRIC, max_tokens: int = 200) -> None:
        self.chat = chat
        self.rubric = rubric
        self.max_tokens = max_tokens

    @property
    def name(self) -> str:
        return f"endpoint:{self.chat.model}@{urlsplit(self.chat.base_url).netloc}"

    def close(self) -> None:
        self.chat.close()

    def judge(self, log: InferenceLog) -> Verdict:
        question = log.input.text if not log.input.system_prompt else f"{log.input.system_prompt}\n\n{log.input.text}"
        messages = [
            {"role": "system", "content": self.rubric},
            {"role": "user", "content": f"Question:\n{question}\n\nAnswer:\n{answer_of(log)}"},
        ]
        try:
            content = self.chat.complete(messages, temperature=0, max_tokens=self.max_tokens)
        except ChatError as exc:
            raise JudgeError(exc.kind, f"{self.name} {exc}") from exc
        return parse_verdict(content, self.name)
