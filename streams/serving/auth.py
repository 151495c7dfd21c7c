"""API keys for ``pioneer serve``: who may predict, who may send feedback of which source, who may read metrics.

Keys come from a file (``--api-keys FILE``: one ``KEY SCOPE[,SCOPE...]`` a line, ``#`` comments) and from
``PIONEER_API_KEYS_<SCOPE>`` environment variables (comma-separated keys). Scopes: ``predict`` (predictions,
chat completions, the model list), ``feedback:human``, ``feedback:judge``, ``feedback:rule`` (``feedback``
grants all three) and ``metrics``. Clients send ``Authorization: Bearer KEY``. Only SHA-256 digests of the keys
are kept in memory. ``/healthz``, ``/readyz`` and the OpenAPI description stay open (probes and discovery).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from streams.serving.limits import send_error

SOURCES = ("human", "judge", "rule")
SCOPES = ("predict", *(f"feedback:{s}" for s in SOURCES), "metrics")
ALIASES = {"feedback": tuple(f"feedback:{s}" for s in SOURCES)}
MIN_KEY_CHARS = 16
ENV_PREFIX = "PIONEER_API_KEYS_"
ROUTE_SCOPES = {
    "/v1/predict": ("predict",),
    "/v1/predict/batch": ("predict",),
    "/v1/chat/completions": ("predict",),
    "/v1/models": ("predict",),
    "/v1/feedback": ALIASES["feedback"],  # any one of them; the route checks the body's source
    "/metrics": ("metrics",),
}
"""Scopes that open each path (a key needs one of them); paths not listed are open."""
PREFIX_SCOPES = {"/v1/models/": ("predict",)}
"""The same, for the paths under a prefix (one model of the OpenAI model list)."""


def route_scopes(path: str) -> tuple[str, ...] | None:
    """The scopes that open ``path``; None when it is open."""
    found = ROUTE_SCOPES.get(path)
    return found if found is not None else next((s for p, s in PREFIX_SCOPES.items() if path.startswith(p)), None)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(text: str) -> frozenset[str]:
    """``predict,feedback`` -> the scopes it names; ``ValueError`` for an unknown one."""
    scopes: set[str] = set()
    for name in (part.strip() for part in text.split(",")):
        if name in ALIASES:
            scopes.update(ALIASES[name])
        elif name in SCOPES:
            scopes.add(name)
        else:
            raise ValueError(f"unknown scope {name!r}; known: {', '.join((*SCOPES, *ALIASES))}")
    return frozenset(scopes)


class ApiKeys:
    """Digests of the accepted keys and the scopes each grants."""

    def __init__(self, grants: Mapping[str, frozenset[str]] | None = None) -> None:
        self._grants: dict[str, frozenset[str]] = {}
        for key, scopes in (grants or {}).items():
            self.add(key, scopes)

    def add(self, key: str, scopes: frozenset[str]) -> None:
        if len(key) < MIN_KEY_CHARS or any(c.isspace() for c in key):
            raise ValueError(f"an API key needs at least {MIN_KEY_CHARS} characters and no spaces")
        digest = _digest(key)
        self._grants[digest] = self._grants.get(digest, frozenset()) | scopes

    def __len__(self) -> int:
        return len(self._grants)

    def scopes(self, key: str) -> frozenset[str] | None:
        """The scopes ``key`` grants; None when it is not a key."""
        return self._grants.get(_digest(key))

    @classmethod
    def load(cls, path: Path | None = None, environ: Mapping[str, str] | None = None) -> ApiKeys:
        """Keys from the file at ``path`` (if any) and the ``PIONEER_API_KEYS_*`` variables of ``environ``."""
        keys = cls()
        if path is not None:
            for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                parts = line.split(None, 1)
                if len(parts) != 2:
                    raise ValueError(f"{path}:{number}: expected 'KEY SCOPE[,SCOPE...]'")
                try:
                    keys.add(parts[0], parse_scopes(parts[1]))
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from None
        for name, value in (os.environ if environ is None else environ).items():
            if name.startswith(ENV_PREFIX) and value.strip():
                scope = parse_scopes(name.removeprefix(ENV_PREFIX).lower().replace("_", ":", 1))
                for key in (k.strip() for k in value.split(",")):
                    if key:
                        keys.add(key, scope)
        return keys


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerAuth:
    """Pure ASGI middleware: 401 without a known key, 403 when the key lacks the path's scope, before any body
    is read. Without keys (``keys`` is None) every request passes with every scope."""

    def __init__(self, app: ASGIApp, keys: ApiKeys | None) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if self.keys is None:
            state["scopes"] = frozenset(SCOPES)
            await self.app(scope, receive, send)
            return
        needed = route_scopes(scope["path"])
        granted = self._granted(scope)
        state["scopes"] = granted or frozenset()
        if needed is not None and granted is None:
            await send_error(send, 401, "a valid API key is required: send 'Authorization: Bearer KEY'",
                          [(b"www-authenticate", b'Bearer realm="pioneer"')])
            return
        if needed is not None and granted is not None and not granted.intersection(needed):
            await send_error(send, 403, f"this API key does not grant {' or '.join(needed)}")
            return
        await self.app(scope, receive, send)

    def _granted(self, scope: Scope) -> frozenset[str] | None:
        assert self.keys is not None
        for name, value in scope["headers"]:
            if name == b"authorization":
                kind, _, token = value.decode("latin-1").partition(" ")
                if kind.lower() == "bearer" and token.strip():
                    return self.keys.scopes(token.strip())
        return None

