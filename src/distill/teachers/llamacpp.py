"""A local GGUF file as a teacher, through llama.cpp (``pip install 'distill[llamacpp]'``; it compiles from source).

llama.cpp generates SmolLM2 about six times faster than transformers on a CPU, which matters when the
teacher writes a whole data set. ``llama_cpp`` is imported only when this backend is built, so the rest
of distill works without it. Calls are serialized with a lock (one ``Llama`` object is not thread-safe)
and run in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from distill.teachers.base import Completion, Message

INSTALL = ("the .gguf teacher needs llama-cpp-python: pip install 'distill[llamacpp]' "
           "(it compiles from source, ~4–6 min; CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" for a portable build).")


def _import_llama():
    try:
        from llama_cpp import Llama
    except ImportError as e:
        raise ModuleNotFoundError(INSTALL, name="llama_cpp") from e
    return Llama


class LlamaCppTeacher:
    """A GGUF model in process via ``llama_cpp.Llama``.

    Args:
        path: the .gguf file.
        model: the name to report (default: the file's stem).
        n_ctx: context length in tokens.
        n_threads: CPU threads (None: llama.cpp's choice).
        n_gpu_layers: layers offloaded to the GPU (0: none).
        logprobs: keep every position's logits so calls can ask for ``top_logprobs`` (llama.cpp needs this at
            load time; it costs n_ctx × vocabulary floats of memory, hence off by default).
    """

    def __init__(self, path: str, *, model: str = "", n_ctx: int = 4096, n_threads: int | None = None,
                 n_gpu_layers: int = 0, logprobs: bool = False):
        Llama = _import_llama()
        self.path = Path(path)
        self.name = model or self.path.stem
        self.logprobs = logprobs
        self.llm = Llama(model_path=str(self.path), n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                         logits_all=logprobs, verbose=False)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LlamaCppTeacher({str(self.path)!r})"

    async def chat(self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0,
                   seed: int | None = None, top_logprobs: int | None = None) -> Completion:
        """Answer one chat conversation with llama.cpp, from an empty cache (same request, same answer).

        Args:
            messages: the conversation, OpenAI-style ``{"role", "content"}`` dicts.
            max_tokens: most tokens to generate.
            temperature: sampling temperature; 0 is greedy.
            seed: seed of the sampling (None: unseeded).
            top_logprobs: if set, also return the k most likely tokens and their log-probs per generated token.

        Returns:
            The answer, with token counts and, when asked, per-token log-probabilities.

        Raises:
            ValueError: ``top_logprobs`` asked of a model loaded without ``logprobs=True``.
        """
        if top_logprobs and not self.logprobs:
            raise ValueError(f"{self.path.name}: top_logprobs needs the GGUF teacher loaded with logprobs=True "
                             f"(load_teacher(path, logprobs=True)).")

        def work():
            t0 = time.perf_counter()
            kw = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature}
            if seed is not None:
                kw["seed"] = seed
            if top_logprobs:
                kw |= {"logprobs": True, "top_logprobs": top_logprobs}
            with self._lock:
                # start from an empty cache: reusing a cached prompt prefix changes the numerics enough to
                # change greedy answers, and the same request should get the same answer
                self.llm.reset()
                out = self.llm.create_chat_completion(**kw)
            return out, time.perf_counter() - t0

        out, secs = await asyncio.to_thread(work)
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        tokens = lps = top = None
        content = (choice.get("logprobs") or {}).get("content") if top_logprobs else None
        if content:
            tokens = [c["token"] for c in content]
            lps = [float(c["logprob"]) for c in content]
            top = [{t["token"]: float(t["logprob"]) for t in c.get("top_logprobs") or []} for c in content]
        return Completion(text=choice["message"]["content"] or "", prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)), model=self.name,
                          finish_reason=choice.get("finish_reason"), latency_s=secs, top_logprobs=top,
                          tokens=tokens, token_logprobs=lps)
