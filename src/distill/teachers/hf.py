"""An in-process transformers model as a teacher (the embedded SmolLM2 by default), and the decoding engine
that `distill serve` shares with it.

Decoding is a short loop written out (prefill, then one token at a time on the KV cache) rather than
``model.generate``: one loop then gives streaming, per-token log-probabilities from the raw logits,
stop strings and a per-request seeded generator (no global RNG), identically for the teacher and the
server. Calls are serialized with a lock. :class:`HFTeacher` batches concurrent requests dynamically
(:mod:`distill.teachers.batching`: requests that arrive while a batch forms share one left-padded decoding
loop on one KV cache, each with its own max_tokens, stop strings, temperature and seed); a request alone
takes the one-sequence loop below, exactly as before.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Iterator

from distill.teachers.base import Completion, Message

log = logging.getLogger(__name__)

# Used only when a tokenizer has no chat template of its own (a base model): plain role-tagged turns.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


@dataclass
class Step:
    """One generated token: its id, text delta (what it adds to the decoded text), log-prob and top-k."""

    token_id: int
    token: str
    delta: str
    logprob: float
    top: dict[str, float] | None


GREEDY_BELOW = 1e-4  # a temperature below this samples the top token: (logp / T) would overflow float32


def next_token(logp, temperature: float, generator) -> int:
    """The next token id from log-probabilities (V,): sampled at ``temperature``, greedy at (near) 0.

    Shifted so the top token's logit is 0, and greedy below ``GREEDY_BELOW``: a tiny temperature (1e-39,
    or 1e-139, which is 0 in float32) gives the top token, never inf − inf = nan probabilities.

    Args:
        logp: log-probabilities (V,), float.
        temperature: sampling temperature; below ``GREEDY_BELOW`` the argmax is taken.
        generator: the torch.Generator to sample with.

    Returns:
        The chosen token id.
    """
    import torch

    if temperature < GREEDY_BELOW:
        return int(logp.argmax())
    probs = ((logp - logp.max()) / temperature).softmax(-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def pick_device(device: str | None = None) -> str:
    """The device to run on: ``device`` if given, else "cuda" when available, else "cpu".

    Args:
        device: a torch device name, or None to choose.

    Returns:
        The device name.
    """
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


class StepEngine:
    """What both decoding engines share (:class:`HFEngine`, ``distill.teachers.llamacpp.LlamaCppEngine``):
    the context budget and a whole answer from :meth:`steps`.

    A subclass sets ``max_context`` (0: unbounded) and ``lock``, and implements ``steps(prompt_ids, *,
    max_tokens, temperature, seed, top_logprobs)`` yielding :class:`Step`; the served endpoints
    (:func:`distill.serve.app.create_app`) and the in-process teachers use only this surface.
    """

    max_context: int = 0

    def budget(self, n_prompt: int, max_tokens: int) -> int:
        """``max_tokens`` cut to what fits in the model's context after an ``n_prompt``-token prompt.

        Args:
            n_prompt: the prompt's length in tokens.
            max_tokens: tokens asked for.

        Returns:
            The number of tokens that may be generated.

        Raises:
            ValueError: the prompt alone fills the context.
        """
        limit = self.max_context
        if limit and n_prompt >= limit:
            raise ValueError(f"the prompt has {n_prompt} tokens; the model's context is {limit} tokens.")
        return min(max_tokens, limit - n_prompt) if limit else max_tokens

    def generate(self, prompt_ids: list[int], *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
                 top_logprobs: int | None = None, stop: list[str] | None = None) -> dict:
        """The whole answer: text (cut at the first stop string), tokens, log-probs, finish reason, counts.

        Args:
            prompt_ids: the prompt's token ids, non-empty.
            max_tokens: most tokens to generate; cut to what fits in the context.
            temperature: sampling temperature; 0 is greedy.
            seed: seed of the per-request generator (None: a fresh random seed).
            top_logprobs: if set, per-token top-k log-probs are collected.
            stop: strings that end the answer (cut before the first one found).

        Returns:
            The dict of :func:`collect`.

        Raises:
            ValueError: an empty prompt, or one that fills the context.
        """
        max_tokens = self.budget(len(prompt_ids), max_tokens)
        with self.lock:
            return collect(self.steps(prompt_ids, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                      top_logprobs=top_logprobs), max_tokens, stop, len(prompt_ids))


class HFEngine(StepEngine):
    """A causal LM and its tokenizer, loaded once, generating one sequence at a time under a lock."""

    def __init__(self, model: str = "smollm2", *, device: str | None = None, dtype: str | None = None,
                 logits_processor=None):
        """Load the model and tokenizer.

        Args:
            model: an HF folder or an embedded model name ("smollm2").
            device: "cuda", "cpu", …; None: cuda when available.
            dtype: "float32", "bfloat16", "float16", or None (the loader's default).
            logits_processor: a transformers-style ``LogitsProcessor`` (``(input_ids (1, L), scores (1, V))
                → scores``) applied at every step before sampling, e.g.
                :class:`~distill.watermark.greenlist.WatermarkProcessor`; log-probabilities are then those of
                the processed logits.
        """
        import torch

        from distill.lm.models import load_model, load_tokenizer, resolve

        path = resolve(model)
        self.device = pick_device(device)
        dt = {None: None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        self.tokenizer = load_tokenizer(path)
        self.model = load_model(path, dtype=dt, device=self.device)
        self.name = model  # as the user named it: 'smollm2' or the folder
        self.max_context = int(getattr(self.model.config, "max_position_embeddings", 0) or 0) or None
        eos = self.model.generation_config.eos_token_id if self.model.generation_config else None
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        if self.tokenizer.eos_token_id is not None:
            eos.append(self.tokenizer.eos_token_id)
        self.eos_ids = set(eos)
        self.lock = threading.Lock()
        self.logits_processor = logits_processor
        if not getattr(self.tokenizer, "chat_template", None):
            log.warning("%s has no chat template; using plain 'role: content' turns", model)

    # ---- prompts ----
    def chat_prompt_ids(self, messages: list[Message]) -> list[int]:
        """Token ids of ``messages`` through the chat template (a plain fallback without one), ready to answer.

        Args:
            messages: the conversation, OpenAI-style ``{"role", "content"}`` dicts.

        Returns:
            The prompt's token ids.
        """
        tok = self.tokenizer
        template = None if getattr(tok, "chat_template", None) else FALLBACK_TEMPLATE
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, chat_template=template)
        # the template already wrote any BOS it wants
        return tok(text, add_special_tokens=False)["input_ids"]

    def text_prompt_ids(self, prompt: str) -> list[int]:
        """Token ids of a plain-text prompt, special tokens added as the tokenizer does.

        Args:
            prompt: the text to continue.

        Returns:
            The prompt's token ids.
        """
        return self.tokenizer(prompt)["input_ids"]

    # ---- decoding ----
    def steps(self, prompt_ids: list[int], *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
              top_logprobs: int | None = None) -> Iterator[Step]:
        """Yield generated tokens until EOS or ``max_tokens`` (caller holds :attr:`lock`).

        Args:
            prompt_ids: the prompt's token ids, non-empty.
            max_tokens: most tokens to generate.
            temperature: sampling temperature; 0 is greedy.
            seed: seed of the per-request generator (None: a fresh random seed).
            top_logprobs: if set, each step carries the k most likely tokens and their log-probs.

        Yields:
            One :class:`Step` per generated token (EOS is not yielded).

        Raises:
            ValueError: ``prompt_ids`` is empty.
        """
        import torch

        if not prompt_ids:
            raise ValueError("the prompt is empty: nothing to continue from.")
        gen = torch.Generator(device=self.device)
        if seed is None:
            gen.seed()  # no seed given: a fresh random one, as OpenAI endpoints do
        else:
            gen.manual_seed(seed)
        ids: list[int] = []
        text = ""
        past = None
        key = _cache_keyword(self.model)
        x = torch.tensor([prompt_ids], device=self.device)
        for _ in range(max_tokens):
            # inference mode per step, never across the yield: grad mode is the thread's, so a generator
            # suspended inside the block would leave its consumer (and whatever that thread runs next) with
            # autograd off until the generator is closed
            with torch.inference_mode():
                out = self.model(input_ids=x, **{key: past}, use_cache=True)
                past = getattr(out, key)
                logits = out.logits[:, -1].float()  # (1, V)
                if self.logits_processor is not None:
                    logits = self.logits_processor(torch.tensor([list(prompt_ids) + ids], device=self.device), logits)
                logp = logits[0].log_softmax(-1)  # (V,) natural-log probabilities
                nxt = next_token(logp, temperature, gen)
                if nxt in self.eos_ids:
                    return
                step, text = self.make_step(ids, text, nxt, logp, top_logprobs)
                x = torch.tensor([[nxt]], device=self.device)
            yield step

    def make_step(self, ids: list[int], text: str, nxt: int, logp, top_logprobs: int | None) -> tuple[Step, str]:
        """Append token ``nxt`` to ``ids`` and describe it: its text delta, log-prob and top-k.

        Args:
            ids: the tokens generated so far (``nxt`` is appended in place).
            text: the decoded text so far.
            nxt: the chosen token id.
            logp: log-probabilities (V,) the token was chosen from.
            top_logprobs: if set, the step carries the k most likely tokens and their log-probs.

        Returns:
            The :class:`Step` and the decoded text after it.
        """
        top = None
        if top_logprobs:
            v, i = logp.topk(top_logprobs)
            top = {}
            for lp, tid in zip(v.tolist(), i.tolist(), strict=True):
                top.setdefault(self.tokenizer.decode([tid]), lp)  # distinct ids can decode alike
        ids.append(nxt)
        new_text = self.tokenizer.decode(ids, skip_special_tokens=True)
        # a multi-byte character split across tokens decodes to U+FFFD until complete: hold it back
        delta = "" if new_text.endswith("\ufffd") else new_text[len(text):]
        if delta:
            text = new_text
        return Step(nxt, self.tokenizer.decode([nxt]), delta, float(logp[nxt]), top), text

class Answer:
    """One answer as its tokens arrive: text cut at the first stop string, tokens, log-probs, finish reason.

    Args:
        max_tokens: the budget the steps run under; reaching it makes the finish reason "length".
        stop: strings that end the answer; the text is cut before the earliest.
        prompt_tokens: the prompt's length, reported as is.
    """

    def __init__(self, max_tokens: int, stop: list[str] | None, prompt_tokens: int):
        self.max_tokens, self.stop, self.prompt_tokens = max_tokens, stop, prompt_tokens
        self.text, self.tokens, self.lps, self.tops = "", [], [], []
        self.finish = "stop" if max_tokens > 0 else "length"
        self.done = max_tokens <= 0

    def add(self, s: Step) -> bool:
        """Take one generated token.

        Args:
            s: the token.

        Returns:
            True when the answer is complete (a stop string appeared, or the budget is spent).
        """
        self.text += s.delta
        self.tokens.append(s.token)
        self.lps.append(s.logprob)
        self.tops.append(s.top)
        cut = find_stop(self.text, self.stop)
        if cut is not None:
            self.text = self.text[:cut]
            self.done = True
        elif len(self.tokens) >= self.max_tokens:
            self.finish, self.done = "length", True
        return self.done

    def result(self) -> dict:
        """The answer as a dict.

        Returns:
            {"text", "tokens", "token_logprobs", "top_logprobs", "finish_reason" ("stop" or "length"),
            "prompt_tokens", "completion_tokens"}.
        """
        return {"text": self.text, "tokens": self.tokens, "token_logprobs": self.lps, "top_logprobs": self.tops,
                "finish_reason": self.finish, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": len(self.tokens)}


def collect(steps: Iterator[Step], max_tokens: int, stop: list[str] | None, prompt_tokens: int) -> dict:
    """Run ``steps`` to the end (or to a stop string) and gather the answer.

    Args:
        steps: the generated tokens, e.g. :meth:`HFEngine.steps`.
        max_tokens: the budget the steps ran under; reaching it makes the finish reason "length".
        stop: strings that end the answer; the text is cut before the earliest.
        prompt_tokens: the prompt's length, reported as is.

    Returns:
        The dict of :meth:`Answer.result`.
    """
    answer = Answer(max_tokens, stop, prompt_tokens)
    for s in steps:
        if answer.add(s):
            break
    return answer.result()


def find_stop(text: str, stop: list[str] | None) -> int | None:
    """Index of the earliest stop string in ``text``, or None.

    Args:
        text: the text generated so far.
        stop: the stop strings (empty strings are ignored), or None.

    Returns:
        The index where the earliest stop string starts, or None.
    """
    hits = [text.find(s) for s in stop or () if s and s in text]
    return min(hits) if hits else None


class HFTeacher:
    """A local transformers model as a :class:`~distill.teachers.base.Teacher`, batching concurrent requests.

    Args:
        model: an HF folder, or 'smollm2' for the embedded SmolLM2-135M-Instruct.
        device: 'cuda', 'cpu', …; default cuda when available.
        dtype: 'float32' (default), 'bfloat16' or 'float16'.
        engine: an already loaded :class:`HFEngine` to share (e.g. with the server); when given, the
            other arguments are ignored.
        max_batch: most concurrent requests decoded together (:mod:`distill.teachers.batching`); 1: none.
        logits_processor: applied to the logits at every step, batched or not (e.g. a watermark:
            :class:`~distill.watermark.greenlist.WatermarkProcessor`); see :class:`HFEngine`.
    """

    def __init__(self, model: str = "smollm2", *, device: str | None = None, dtype: str | None = None,
                 engine: HFEngine | None = None, max_batch: int = 64, logits_processor=None):
        from distill.teachers.batching import Batcher

        self.engine = engine or HFEngine(model, device=device, dtype=dtype, logits_processor=logits_processor)
        self.name = self.engine.name
        self.batcher = Batcher(self.engine, max_batch=max_batch)

    def __repr__(self) -> str:
        return f"HFTeacher({self.name!r}, device={self.engine.device!r})"

    async def chat(self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0,
                   seed: int | None = None, top_logprobs: int | None = None, stop: list[str] | None = None
                   ) -> Completion:
        """Answer one chat conversation; requests in flight together are decoded as one batch (off the loop).

        Args:
            messages: the conversation, OpenAI-style ``{"role", "content"}`` dicts.
            max_tokens: most tokens to generate.
            temperature: sampling temperature; 0 is greedy.
            seed: seed of the sampling (None: unseeded).
            top_logprobs: if set, also return the k most likely tokens and their log-probs per generated token.
            stop: strings that end the answer (cut before the first one found).

        Returns:
            The answer, with token counts and latency (queueing included); tokens and log-probs only when
            ``top_logprobs`` is set.

        Raises:
            ValueError: the prompt is empty or fills the model's context.
        """
        from distill.teachers.batching import Job

        t0 = time.perf_counter()
        ids = self.engine.chat_prompt_ids(messages)
        if not ids:
            raise ValueError("the prompt is empty: nothing to continue from.")
        job = Job(ids, self.engine.budget(len(ids), max_tokens), temperature, seed, top_logprobs, stop)
        out = await asyncio.wrap_future(self.batcher.submit(job))
        secs = time.perf_counter() - t0
        want = bool(top_logprobs)
        return Completion(
            text=out["text"], prompt_tokens=out["prompt_tokens"], completion_tokens=out["completion_tokens"],
            model=self.name, finish_reason=out["finish_reason"], latency_s=secs,
            top_logprobs=out["top_logprobs"] if want else None,
            tokens=out["tokens"] if want else None, token_logprobs=out["token_logprobs"] if want else None)


def _cache_keyword(model) -> str:
    """The KV-cache argument (and output field) of ``model.forward``: ``cache`` in transformers ≥ 5.2x,
    ``past_key_values`` before (now deprecated, with a warning on every call)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
