"""``ChatEndpoint``: one OpenAI-compatible ``POST {base_url}/chat/completions`` call, shared by every teacher and
judge that asks a chat model (``pioneer serve``, a hosted API).

Each caller turns a :class:`ChatError` into its own error (a teacher's, a judge's), prefixed with its name.

>>> import httpx
>>> reply = {"choices": [{"message": {"role": "assistant", "content": "transfer"}}]}
>>> transport = httpx.MockTransport(lambda request: httpx.Response(200, json=reply))
>>> ChatEndpoint("http://127.0.0.1:8000/v1/", "tiny", transport=transport).complete(
...     [{"role": "user", "content": "Label: move money"}], temperature=0)
'transfer'
"""

from __future__ import annotations

import math
from typing import Any, Literal

import httpx

from pioneer.errors import ConfigError, PioneerError

ChatErrorKind = Literal["timeout", "transport", "invalid_reply"]


class ChatError(PioneerError):
    """The endpoint gave no reply: ``kind`` is ``timeout``, ``transport`` (unreachable, or an HTTP error status) or
    ``invalid_reply`` (no ``choices[0].message.content``); the message reads after the caller's name."""

    def __init__(self, kind: ChatErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ChatEndpoint:
    """A chat-completions endpoint and the model asked there.

    Parameters
    ----------
    base_url
        The API root, e.g. ``http://127.0.0.1:8000/v1`` or ``https://api.openai.com/v1``.
    model
        The model name the endpoint expects.
    api_key
        Sent as a bearer token when given.
    timeout
        Seconds for the whole call (connect, send, read).
    transport
        An httpx transport (None uses the network).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ConfigError("model must be named")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
            raise ConfigError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.transport = transport
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"ChatEndpoint(base_url={self.base_url!r}, model={self.model!r}, timeout={self.timeout})"

    def complete(self, messages: list[dict[str, str]], **options: Any) -> str:
        """The reply's text (empty when the endpoint answered ``content: null``); ``options`` (``temperature``,
        ``max_tokens``) go into the request body."""
        body = {"model": self.model, "messages": messages, **options}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, transport=self.transport)
        try:
            response = self._client.post(f"{self.base_url}/chat/completions", json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise ChatError("timeout", f"did not answer within {self.timeout:g} s ({exc!r})") from exc
        except httpx.HTTPError as exc:
            raise ChatError("transport", f"is unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise ChatError("transport", f"answered HTTP {response.status_code}: {response.text[:200]!r}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ChatError(
                "invalid_reply", f"answered without choices[0].message.content: {response.text[:200]!r}"
            ) from None
        return "" if content is None else str(content)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
