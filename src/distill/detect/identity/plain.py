"""Base models have no chat template: ask them with a plain "Question: … Answer:" text instead.

:class:`PlainTextTeacher` keeps the :class:`~distill.teachers.base.Teacher` interface (so the recorder and
``run_chats`` work unchanged) but sends the text of its messages as a raw prompt to continue. It needs a
backend that can continue raw text: one with ``complete(prompt, ...)``, or an in-process transformers
teacher (its ``engine``). HTTP chat endpoints apply their own template, so they are asked in chat form.
"""

from __future__ import annotations

import asyncio
import time

from distill.teachers.base import Completion, Message


def is_base_model(teacher) -> bool:
    """True when the backend says it has no chat template (an in-process base model); False when unknown.

    Args:
        teacher: a teacher backend; its ``has_chat_template`` attribute, else its ``engine.tokenizer``'s
            ``chat_template``, is read.

    Returns:
        Whether the model should be asked in plain text rather than in chat messages.
    """
    if hasattr(teacher, "has_chat_template"):
        return not teacher.has_chat_template
    engine = getattr(teacher, "engine", None)
    tok = getattr(engine, "tokenizer", None)
    return tok is not None and not getattr(tok, "chat_template", None)


def can_continue_text(teacher) -> bool:
    """Whether ``teacher`` can continue a raw text prompt, as :class:`PlainTextTeacher` needs.

    Args:
        teacher: a teacher backend.

    Returns:
        True when it has ``complete(prompt, ...)``, or an ``engine`` with ``text_prompt_ids`` and
        ``generate`` (an in-process transformers model); False for chat-only backends such as HTTP endpoints.
    """
    engine = getattr(teacher, "engine", None)
    return hasattr(teacher, "complete") or (hasattr(engine, "text_prompt_ids") and hasattr(engine, "generate"))


class PlainTextTeacher:
    """Wraps a teacher: ``chat(messages)`` continues the messages' text, joined by blank lines, as is.

    Args:
        teacher: a backend that can continue raw text (see :func:`can_continue_text`).
        stop: strings that end an answer (a base model goes on to write the next question).
    """

    def __init__(self, teacher, stop: list[str] | None = None):
        if not can_continue_text(teacher):
            raise ValueError(f"teacher {teacher.name!r} cannot take a plain-text prompt (only in-process models "
                             "can); use --prompt-format chat.")
        self.teacher, self.stop = teacher, list(stop or [])
        self.name = f"{teacher.name} [plain text]"  # recorded answers of the two forms never mix

    async def chat(self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0,
                   seed: int | None = None, top_logprobs: int | None = None) -> Completion:
        """Continue the messages' contents, joined by blank lines, as one raw text prompt.

        Args:
            messages: the chat messages; only their ``content`` is used (roles and any template are dropped).
            max_tokens: the most tokens generated.
            temperature: the sampling temperature (0: greedy).
            seed: the sampling seed, for reproducible samples; None: unseeded.
            top_logprobs: accepted for the :class:`~distill.teachers.base.Teacher` interface; not asked for.

        Returns:
            The continuation; with an in-process engine it is cut before the first ``stop`` string, and its
            ``latency_s`` is the wall time of the generation.
        """
        prompt = "\n\n".join(m["content"] for m in messages)
        if hasattr(self.teacher, "complete"):
            return await self.teacher.complete(prompt, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                               stop=self.stop)
        engine = self.teacher.engine
        t0 = time.perf_counter()
        out = await asyncio.to_thread(engine.generate, engine.text_prompt_ids(prompt), max_tokens=max_tokens,
                                      temperature=temperature, seed=seed, stop=self.stop)
        return Completion(text=out["text"], prompt_tokens=out["prompt_tokens"],
                          completion_tokens=out["completion_tokens"], model=self.teacher.name,
                          finish_reason=out["finish_reason"], latency_s=time.perf_counter() - t0)
