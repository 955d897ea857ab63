"""Dynamic batching for the in-process transformers teacher: many concurrent requests, one decoding loop.

A request that arrives while a batch is forming joins it; the batch is decoded together: the prompts are
left-padded to one length (an attention mask hides the padding, position ids count real tokens only, so
each row sees exactly what it would see alone), one forward per step serves every row on one KV cache,
and each row keeps its own max_tokens, stop strings, temperature, seed (a torch.Generator per row) and
top-k log-probs. A row that finishes is dropped from the cache, so short answers do not pay for long
ones. On a CPU one decoding step of a small model costs about the same for 1 or 16 rows (it is bound by
reading the weights), which is where the speed-up comes from.

Greedy answers equal the one-at-a-time answers on the test models (tests/teachers/test_batching.py); in
general a padded, batched matrix product may round differently in the last bit, so a near-tie between two
tokens can break the other way — ``benchmarks/teacher_batching.py`` counts how often that happens on the
embedded teacher. ``max_batch=1`` turns batching off.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One request in a batch: the prompt and its own generation settings (``max_tokens`` already budgeted)."""

    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0
    seed: int | None = None
    top_logprobs: int | None = None
    stop: list[str] | None = None
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


def generate_batch(engine, jobs: list[Job]) -> list[dict]:
    """Decode ``jobs`` together (caller holds ``engine.lock``); one answer dict per job, in order.

    Args:
        engine: the :class:`~distill.teachers.hf.HFEngine` whose model decodes.
        jobs: the requests; prompts non-empty, ``max_tokens`` ≥ 1 and within the context.

    Returns:
        One :meth:`~distill.teachers.hf.Answer.result` dict per job.

    Raises:
        ValueError: a job has an empty prompt.
    """
    import torch

    from distill.teachers.hf import Answer, _cache_keyword, next_token

    if any(not j.prompt_ids for j in jobs):
        raise ValueError("the prompt is empty: nothing to continue from.")
    dev = engine.device
    pad = engine.tokenizer.pad_token_id
    pad = pad if pad is not None else min(engine.eos_ids, default=0)
    width = max(len(j.prompt_ids) for j in jobs)
    x = torch.tensor([[pad] * (width - len(j.prompt_ids)) + j.prompt_ids for j in jobs], device=dev)  # (B, L)
    mask = torch.tensor([[0] * (width - len(j.prompt_ids)) + [1] * len(j.prompt_ids) for j in jobs],
                        device=dev)  # (B, L): 0 on the left padding
    pos = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, L): each row's own positions, 0 at its first real token
    gens = []
    for j in jobs:
        g = torch.Generator(device=dev)
        g.seed() if j.seed is None else g.manual_seed(j.seed)
        gens.append(g)
    answers = [Answer(j.max_tokens, j.stop, len(j.prompt_ids)) for j in jobs]
    ids: list[list[int]] = [[] for _ in jobs]
    texts = [""] * len(jobs)
    live = [i for i, a in enumerate(answers) if not a.done]  # job index of each row still in the batch
    if len(live) < len(jobs):  # a zero-token budget: nothing to decode for that row
        x, mask, pos = x[live], mask[live], pos[live]
    key = _cache_keyword(engine.model)
    past = None
    with torch.inference_mode():
        while live:
            out = engine.model(input_ids=x, attention_mask=mask, position_ids=pos, **{key: past}, use_cache=True,
                               logits_to_keep=1)
            past = getattr(out, key)
            logits = out.logits[:, -1].float()  # (b, V)
            if engine.logits_processor is not None:  # e.g. a watermark: each row sees its own prompt and tokens
                logits = torch.cat([engine.logits_processor(
                    torch.tensor([jobs[i].prompt_ids + ids[i]], device=dev), logits[row : row + 1])
                    for row, i in enumerate(live)])
            logp = logits.log_softmax(-1)  # (b, V) natural-log probabilities
            keep, nxt_ids = [], []
            for row, i in enumerate(live):
                j = jobs[i]
                nxt = next_token(logp[row], j.temperature, gens[i])
                if nxt in engine.eos_ids:
                    continue  # EOS: finished, "stop"
                step, texts[i] = engine.make_step(ids[i], texts[i], nxt, logp[row], j.top_logprobs)
                if not answers[i].add(step):
                    keep.append(row)
                    nxt_ids.append(nxt)
            if len(keep) < len(live):  # drop finished rows from the cache and the masks
                if not keep:
                    break
                idx = torch.tensor(keep, device=dev)
                past.batch_select_indices(idx)
                mask, pos = mask[idx], pos[idx]
                live = [live[r] for r in keep]
            x = torch.tensor(nxt_ids, device=dev)[:, None]  # (b, 1)
            mask = torch.cat([mask, mask.new_ones(len(live), 1)], dim=1)  # (b, L + t)
            pos = pos[:, -1:] + 1  # (b, 1)
    return [a.result() for a in answers]


class Batcher:
    """A worker thread that groups requests arriving close together and decodes each group as one batch.

    The first request waits up to ``gap_s`` for company; every arrival extends the wait by ``gap_s`` (never
    past ``window_s`` after the first), and a full batch (``max_batch``) starts at once. While a batch
    decodes, new requests queue for the next one.

    Args:
        engine: the :class:`~distill.teachers.hf.HFEngine` to decode with (its lock is held per batch).
        max_batch: most requests per batch; 1 turns batching off (each request decodes alone).
        gap_s: how long a forming batch waits for the next request.
        window_s: the longest a forming batch waits in all.
    """

    def __init__(self, engine, *, max_batch: int = 64, gap_s: float = 0.02, window_s: float = 0.25):
        if max_batch < 1:
            raise ValueError(f"max_batch must be ≥ 1, got {max_batch!r}.")
        self.engine, self.max_batch, self.gap_s, self.window_s = engine, max_batch, gap_s, window_s
        self.queue: queue.Queue[Job] = queue.Queue()
        self.sizes: list[int] = []  # size of every batch decoded (for tests and benchmarks)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, job: Job) -> concurrent.futures.Future:
        """Queue ``job``; its future resolves to its answer dict (or the batch's error).

        Args:
            job: the request.

        Returns:
            ``job.future``.
        """
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="distill-batcher", daemon=True)
                self._thread.start()
        self.queue.put(job)
        return job.future

    def _gather(self) -> list[Job]:
        batch = [self.queue.get()]
        end = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            wait = min(self.gap_s, end - time.monotonic())
            if wait <= 0:
                break
            try:
                batch.append(self.queue.get(timeout=wait))
            except queue.Empty:
                break
        return [j for j in batch if j.future.set_running_or_notify_cancel()]  # skip requests given up on

    def _loop(self) -> None:
        from distill.teachers.hf import collect

        while True:
            batch = self._gather()
            if not batch:
                continue
            self.sizes.append(len(batch))
            try:
                with self.engine.lock:
                    if len(batch) == 1:  # alone: the one-sequence loop, exactly as without batching
                        j = batch[0]
                        outs = [collect(self.engine.steps(j.prompt_ids, max_tokens=j.max_tokens,
                                                          temperature=j.temperature, seed=j.seed,
                                                          top_logprobs=j.top_logprobs),
                                        j.max_tokens, j.stop, len(j.prompt_ids))]
                    else:
                        outs = generate_batch(self.engine, batch)
            except Exception as e:  # the whole batch fails together; each caller sees the error
                log.warning("a batch of %d requests failed: %s", len(batch), e)
                for j in batch:
                    j.future.set_exception(e)
                continue
            for j, out in zip(batch, outs, strict=True):
                j.future.set_result(out)
