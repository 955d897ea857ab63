"""The teacher contract: anything that answers chat messages, wherever it runs.

Every backend (an OpenAI-compatible HTTP endpoint, an in-process transformers model, a local GGUF file
through llama.cpp) implements :class:`Teacher`; everything that asks a teacher something (the docs data
generator, identity probes, `distill serve` tests) talks to this interface only. It is async because the
HTTP backend is the one that matters at scale: many requests in flight, bounded by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass
class Completion:
    """One answer of a teacher.

    ``top_logprobs`` (only when asked for and the backend can) holds, per generated token, the ``k`` most
    likely tokens and their natural-log probabilities: ``[{token: logprob, ...}, ...]``, one dict per token.
    ``tokens`` / ``token_logprobs`` (same condition) are the generated tokens themselves and the log-probability
    of each, aligned with ``top_logprobs``. ``cached`` is True when a recorder answered from its store.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str = ""
    finish_reason: str | None = None  # "stop" | "length" | None when the backend does not say
    top_logprobs: list[dict[str, float]] | None = None
    latency_s: float = 0.0
    extra: dict = field(default_factory=dict)
    tokens: list[str] | None = None
    token_logprobs: list[float] | None = None
    cached: bool = False


@runtime_checkable
class Teacher(Protocol):
    """A model that answers chat messages. ``name`` is the model id the backend reports."""

    name: str

    async def chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
        top_logprobs: int | None = None,
    ) -> Completion:
        """Answer one chat conversation.

        Args:
            messages: the conversation, OpenAI-style ``{"role", "content"}`` dicts.
            max_tokens: most tokens to generate.
            temperature: sampling temperature; 0 is greedy.
            seed: seed of the sampling (None: unseeded).
            top_logprobs: if set, also return the k most likely tokens and their log-probs per generated token.

        Returns:
            The answer, with token counts (and log-probabilities when asked for and supported).
        """
