"""A local GGUF file through llama.cpp (``pip install 'distill[llamacpp]'``; it compiles from source): as a teacher
(:class:`LlamaCppTeacher`) and as the engine `distill serve FILE.gguf` serves (:class:`LlamaCppEngine`).

One request at a time, llama.cpp generated SmolLM2 1.5× faster per CPU-second than transformers here
(benchmarks/results/serve_gguf.md; the batched transformers teacher is faster still with 16 requests in
flight). ``llama_cpp`` is imported only when this backend is built, so the rest of distill works without
it. Calls are serialized with a lock (one ``Llama`` object is not thread-safe) and run in a worker thread
so the event loop stays free."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from typing import Iterator

from distill.teachers.base import Completion, Message
from distill.teachers.hf import Step, StepEngine

log = logging.getLogger(__name__)

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

    @property
    def has_chat_template(self) -> bool:
        """Whether the file carries a chat template (a base model does not: ask it with :meth:`complete`)."""
        return bool((getattr(self.llm, "metadata", None) or {}).get("tokenizer.chat_template"))

    async def complete(self, prompt: str, *, max_tokens: int = 512, temperature: float = 0.0,
                       seed: int | None = None, stop: list[str] | None = None) -> Completion:
        """Continue a raw text prompt (no chat template), from an empty cache.

        Args:
            prompt: the text to continue.
            max_tokens: most tokens to generate.
            temperature: sampling temperature; 0 is greedy.
            seed: seed of the sampling (None: unseeded).
            stop: strings that end the continuation (cut before the first one).

        Returns:
            The continuation with token counts.
        """
        def work():
            t0 = time.perf_counter()
            kw = {"prompt": prompt, "max_tokens": max_tokens, "temperature": temperature, "stop": list(stop or [])}
            if seed is not None:
                kw["seed"] = seed
            with self._lock:
                self.llm.reset()  # as in chat: the same request gets the same answer
                out = self.llm.create_completion(**kw)
            return out, time.perf_counter() - t0

        out, secs = await asyncio.to_thread(work)
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(text=choice.get("text") or "", prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)), model=self.name,
                          finish_reason=choice.get("finish_reason"), latency_s=secs)

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


# ---- the serving engine: the same interface as distill.teachers.hf.HFEngine, on a GGUF file ----

def render_chat(template: str, messages: list[Message], **special) -> str:
    """A chat template rendered as transformers renders it (sandboxed Jinja, trim/lstrip blocks, loop controls,
    ``raise_exception``, ``strftime_now``), ready for the assistant's answer.

    Args:
        template: the Jinja chat template (GGUF ``tokenizer.chat_template``).
        messages: the conversation, OpenAI-style ``{"role", "content"}`` dicts.
        **special: the template's special-token variables (``bos_token``, ``eos_token``, …).

    Returns:
        The prompt text.

    Raises:
        jinja2.TemplateError: the template raised (e.g. ``raise_exception`` on roles it refuses).
    """
    from datetime import datetime

    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = lambda x, indent=None, separators=None, sort_keys=False: json.dumps(
        x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)
    env.globals |= {"raise_exception": raise_exception,
                    "strftime_now": lambda fmt: datetime.now().strftime(fmt)}
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, **special)


def last_logits(llm):
    """The logits (V,) llama.cpp computed for the last token it evaluated (a view; copy before the next eval).

    Args:
        llm: the ``llama_cpp.Llama``.

    Returns:
        A float32 numpy array of the vocabulary's size.
    """
    import llama_cpp
    import numpy as np

    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))


class LlamaCppEngine(StepEngine):
    """A GGUF file through llama.cpp with the interface of :class:`~distill.teachers.hf.HFEngine` (what
    :func:`distill.serve.app.create_app` serves): chat/text prompt ids, ``budget``, ``steps`` and a lock.

    Decoding is the same short loop as the transformers engine's: evaluate the prompt from an empty cache,
    then one token at a time, choosing each token here from llama.cpp's raw logits (greedy at temperature
    0, else sampled with a per-request seeded numpy generator), so every step carries its log-probability
    and the top-k without asking llama.cpp to keep every position's logits.

    Args:
        path: the .gguf file.
        n_ctx: context length in tokens (0: the model's own, at most ``MAX_CTX``).
        n_threads: CPU threads (0 or None: llama.cpp's choice).
        n_gpu_layers: layers offloaded to a GPU (0: none; needs a GPU build of llama-cpp-python).
    """

    MAX_CTX = 8192  # the KV cache is allocated up front: a 128k-context model would take gigabytes

    def __init__(self, path: str, *, n_ctx: int = 0, n_threads: int | None = None, n_gpu_layers: int = 0):
        Llama = _import_llama()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such GGUF file.")
        meta = _gguf_context(self.path)
        n_ctx = n_ctx or min(meta or self.MAX_CTX, self.MAX_CTX)
        self.llm = Llama(model_path=str(self.path), n_ctx=n_ctx, n_threads=n_threads or None,
                         n_gpu_layers=n_gpu_layers, logits_all=False, verbose=False)
        self.name = str(self.path)
        self.device = f"llama.cpp, {n_threads or 'default'} threads" + (f", {n_gpu_layers} GPU layers"
                                                                        if n_gpu_layers else "")
        self.max_context = int(self.llm.n_ctx())
        self.lock = threading.Lock()
        md = getattr(self.llm, "metadata", None) or {}
        self.chat_template = md.get("tokenizer.chat_template") or None
        self.add_bos = str(md.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true"
        self.eos_ids = {int(self.llm.token_eos())}
        if md.get("tokenizer.ggml.eos_token_id") is not None:
            self.eos_ids.add(int(md["tokenizer.ggml.eos_token_id"]))
        self.eos_ids.discard(-1)
        self._pieces: dict[int, bytes] = {}
        if not self.chat_template:
            log.warning("%s has no chat template; using plain 'role: content' turns", self.path.name)

    def _special(self, key: str) -> str:
        md = getattr(self.llm, "metadata", None) or {}
        tid = md.get(f"tokenizer.ggml.{key}_token_id")
        return "" if tid is None else self.piece(int(tid), special=True).decode("utf-8", "replace")

    def piece(self, token_id: int, special: bool = False) -> bytes:
        """The bytes a token stands for (control tokens: none unless ``special``).

        Args:
            token_id: the token.
            special: render control tokens (``<|im_end|>``) as their text.

        Returns:
            The token's bytes.
        """
        if special:
            return self.llm.detokenize([token_id], special=True)
        if token_id not in self._pieces:
            self._pieces[token_id] = self.llm.detokenize([token_id])
        return self._pieces[token_id]

    # ---- prompts ----
    def chat_prompt_ids(self, messages: list[Message]) -> list[int]:
        """Token ids of ``messages`` through the file's chat template (a plain fallback without one).

        Args:
            messages: the conversation, OpenAI-style ``{"role", "content"}`` dicts.

        Returns:
            The prompt's token ids (special tokens in the template's text are parsed as such).
        """
        from distill.teachers.hf import FALLBACK_TEMPLATE

        text = render_chat(self.chat_template or FALLBACK_TEMPLATE, messages, bos_token=self._special("bos"),
                           eos_token=self._special("eos"))
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def text_prompt_ids(self, prompt: str) -> list[int]:
        """Token ids of a plain-text prompt (a BOS first when the file asks for one).

        Args:
            prompt: the text to continue.

        Returns:
            The prompt's token ids.
        """
        return list(self.llm.tokenize(prompt.encode("utf-8"), add_bos=self.add_bos, special=True))

    # ---- decoding ----
    def steps(self, prompt_ids: list[int], *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
              top_logprobs: int | None = None) -> Iterator[Step]:
        """Yield generated tokens until an end token or ``max_tokens`` (caller holds :attr:`lock`).

        Args:
            prompt_ids: the prompt's token ids, non-empty.
            max_tokens: most tokens to generate.
            temperature: sampling temperature; 0 is greedy.
            seed: seed of the per-request generator (None: a fresh random seed).
            top_logprobs: if set, each step carries the k most likely tokens and their log-probs.

        Yields:
            One :class:`~distill.teachers.hf.Step` per generated token (the end token is not yielded).

        Raises:
            ValueError: ``prompt_ids`` is empty.
        """
        import codecs

        import numpy as np

        from distill.teachers.hf import GREEDY_BELOW

        if not prompt_ids:
            raise ValueError("the prompt is empty: nothing to continue from.")
        rng = np.random.default_rng(seed)  # None: fresh entropy, as OpenAI endpoints do
        utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self.llm.reset()  # an empty cache: the same request gets the same answer
        self.llm.eval(list(prompt_ids))
        for i in range(max_tokens):
            logits = np.array(last_logits(self.llm), dtype=np.float64)
            top = float(logits.max())
            logp = logits - (top + np.log(np.exp(logits - top).sum()))  # natural-log probabilities
            if temperature < GREEDY_BELOW:
                nxt = int(logp.argmax())
            else:
                p = np.exp((logp - logp.max()) / temperature)
                nxt = int(rng.choice(p.size, p=p / p.sum()))
            if nxt in self.eos_ids:
                return
            tops = None
            if top_logprobs:
                best = np.argpartition(-logp, top_logprobs - 1)[:top_logprobs]
                best = best[np.argsort(-logp[best], kind="stable")]
                tops = {}
                for tid in best.tolist():
                    tops.setdefault(self.piece(tid).decode("utf-8", "replace"), float(logp[tid]))
            raw = self.piece(nxt)
            yield Step(nxt, raw.decode("utf-8", "replace"), utf8.decode(raw), float(logp[nxt]), tops)
            if i + 1 < max_tokens:
                self.llm.eval([nxt])


def _gguf_context(path: Path) -> int | None:
    """The context length a GGUF file declares (``<arch>.context_length``), read with the gguf library; None if
    it cannot be read."""
    try:
        import gguf

        r = gguf.GGUFReader(path)
        arch = r.fields["general.architecture"].contents()
        return int(r.fields[f"{arch}.context_length"].contents())
    except Exception:  # the library is missing or the file is not one it reads: llama.cpp decides
        return None
