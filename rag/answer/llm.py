"""Talking to an LLM behind an OpenAI-compatible chat-completions endpoint
(llama.cpp server, vLLM, Ollama, a hosted API), through the official
``openai`` client. One job: send messages, stream back text, and turn every
way the endpoint can fail into ``LLMError``. What to ask and what to keep of
the reply is rag/answer/generative.py's business.
"""
from __future__ import annotations

import logging
import time
from typing import Iterator, Sequence

from ..config import Config
from ..errors import LLMError

log = logging.getLogger("sanad.llm")
MAX_TOKENS = 400  # a short answer of a few sentences; bounds a runaway generation
CONNECT_SECONDS = 5.0


class ChatClient:
    """A chat-completions endpoint. Cheap to construct; the HTTP client is
    made on first use."""

    def __init__(self, url: str, model: str = "default", api_key: str | None = None, timeout: float = 30.0):
        self.url, self.model, self.timeout = url, model, timeout
        self._key = api_key
        self._client = None

    @classmethod
    def from_config(cls, config: Config) -> "ChatClient":
        if not config.llm_url:
            raise LLMError("no LLM is configured: set SANAD_LLM_URL (e.g. http://127.0.0.1:8080/v1)")
        return cls(config.llm_url, config.llm_model, config.llm_api_key, config.llm_timeout)

    def __repr__(self) -> str:  # never the key
        return f"ChatClient({self.url!r}, model={self.model!r}, timeout={self.timeout})"

    @property
    def client(self):
        if self._client is None:
            from openai import OpenAI, Timeout

            # No retries: a retry would double the wait the timeout promises.
            self._client = OpenAI(base_url=self.url, api_key=self._key or "none", max_retries=0,
                                  timeout=Timeout(self.timeout, connect=min(self.timeout, CONNECT_SECONDS)))
        return self._client

    def stream(self, messages: Sequence[dict], max_tokens: int = MAX_TOKENS) -> Iterator[str]:
        """The reply's text, piece by piece as it is generated. Raises
        LLMError when the endpoint fails, stalls longer than the timeout
        between pieces, or takes longer than the timeout in all."""
        deadline = time.monotonic() + self.timeout
        try:
            reply = self.client.chat.completions.create(
                model=self.model, messages=list(messages), stream=True, temperature=0, max_tokens=max_tokens)
            for chunk in reply:
                if time.monotonic() > deadline:
                    reply.close()
                    raise LLMError(f"no complete answer within {self.timeout:g} s")
                choices = getattr(chunk, "choices", None) or []
                delta = getattr(choices[0], "delta", None) if choices else None
                text = getattr(delta, "content", None)
                if text:
                    yield str(text)
        except LLMError:
            raise
        except Exception as e:  # noqa: BLE001 - whatever the endpoint does wrong, the caller falls back
            raise LLMError(self._redact(f"{type(e).__name__}: {e}")) from None

    def complete(self, messages: Sequence[dict], max_tokens: int = MAX_TOKENS) -> str:
        """The whole reply in one response (not streamed). Raises LLMError
        as ``stream`` does, and when the reply holds no text."""
        try:
            reply = self.client.chat.completions.create(
                model=self.model, messages=list(messages), temperature=0, max_tokens=max_tokens)
            content = reply.choices[0].message.content
        except Exception as e:  # noqa: BLE001 - whatever the endpoint does wrong, the caller falls back
            raise LLMError(self._redact(f"{type(e).__name__}: {e}")) from None
        if not isinstance(content, str):
            raise LLMError("the reply holds no text")
        return content

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text
