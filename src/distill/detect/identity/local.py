"""An in-process transformers teacher for the identity probe (embedded models and HF folders).

Stand-in until ``distill.teachers.load_teacher`` (branch ``serve``) is merged: to be replaced by it
where it covers the same ground. It implements the :class:`~distill.teachers.base.Teacher` protocol
and, for base models without a chat template, ``complete(prompt)`` for plain-text prompts.

Concurrent calls are gathered into one batched ``generate`` (left padding), which on CPU gives
several times the tokens per second of one sequence at a time. Sampling is done per row with the
row's own seeded generator, so an answer does not depend on which other requests shared its batch.
"""

from __future__ import annotations

import asyncio
import logging
import time

import torch

from distill.teachers.base import Completion

log = logging.getLogger(__name__)


class _RowSampler:
    """A logits processor that samples each row with its own generator and temperature.

    It returns scores that are −inf except at the sampled token, so greedy decoding picks it.
    """

    def __init__(self, temperatures: list[float], seeds: list[int | None]):
        self.temperatures = temperatures
        self.generators = [torch.Generator().manual_seed(s if s is not None else 0) for s in seeds]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(scores, float("-inf"))  # (B, V)
        for i, (t, g) in enumerate(zip(self.temperatures, self.generators, strict=True)):
            if t <= 0:
                j = int(scores[i].argmax())
            else:
                probs = torch.softmax(scores[i].float() / t, dim=-1)
                j = int(torch.multinomial(probs, 1, generator=g))
            out[i, j] = 0.0
        return out


class LocalTeacher:
    """A causal LM in this process: ``'smollm2'``, ``'gemma3-270m'`` or an HF model folder."""

    def __init__(self, spec: str, *, batch_size: int = 8):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from distill.lm.models import resolve

        path = resolve(spec)
        self.name = spec
        self.tok = AutoTokenizer.from_pretrained(path)
        self.tok.padding_side = "left"  # generation continues at the right edge of every row
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        self.has_chat_template = bool(getattr(self.tok, "chat_template", None))
        eos = self.model.generation_config.eos_token_id
        self.stop_ids = {self.tok.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        self.batch_size = batch_size
        self._pending: list[tuple[str, int, float, int | None, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None

    async def chat(self, messages, *, max_tokens: int = 512, temperature: float = 0.0, seed: int | None = None,
                   top_logprobs: int | None = None) -> Completion:
        if self.has_chat_template:
            prompt = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:  # a base model: the messages as plain text
            prompt = "\n\n".join(m["content"] for m in messages)
        return await self._submit(prompt, max_tokens, temperature, seed)

    async def complete(self, prompt: str, *, max_tokens: int = 512, temperature: float = 0.0,
                       seed: int | None = None) -> Completion:
        """Continue ``prompt`` as plain text (no chat template)."""
        return await self._submit(prompt, max_tokens, temperature, seed)

    async def _submit(self, prompt, max_tokens, temperature, seed) -> Completion:
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((prompt, max_tokens, temperature, seed, fut))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._pending:
            for _ in range(10):  # wait briefly for a full batch: callers enqueue one event-loop turn apart
                if len(self._pending) >= self.batch_size:
                    break
                await asyncio.sleep(0.005)
            batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size:]
            try:
                results = await asyncio.to_thread(self._generate, batch)
            except Exception as e:  # hand the error to every waiting caller
                for *_, fut in batch:
                    fut.set_exception(e)
                continue
            for (*_, fut), res in zip(batch, results, strict=True):
                fut.set_result(res)

    @torch.no_grad()
    def _generate(self, batch) -> list[Completion]:
        t0 = time.perf_counter()
        prompts = [b[0] for b in batch]
        # Chat templates already hold the BOS token; plain prompts of base models need it.
        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=not self.has_chat_template)
        max_new = max(b[1] for b in batch)
        sampler = _RowSampler([b[2] for b in batch], [b[3] for b in batch])
        out = self.model.generate(**enc, max_new_tokens=max_new, do_sample=False, logits_processor=[sampler],
                                  pad_token_id=self.tok.pad_token_id, top_k=None, top_p=None, temperature=None)
        new = out[:, enc["input_ids"].shape[1]:]  # (B, generated)
        dt = time.perf_counter() - t0
        results = []
        for i, (_prompt, max_tokens, *_rest) in enumerate(batch):
            ids = new[i, :max_tokens].tolist()
            finish = "length"
            stops = [j for j, t in enumerate(ids) if t in self.stop_ids]
            if stops:
                ids = ids[: stops[0]]
                finish = "stop"
            ids = [t for t in ids if t != self.tok.pad_token_id]
            results.append(Completion(
                text=self.tok.decode(ids, skip_special_tokens=True), prompt_tokens=int(enc["attention_mask"][i].sum()),
                completion_tokens=len(ids), model=self.name, finish_reason=finish, latency_s=dt))
        return results
