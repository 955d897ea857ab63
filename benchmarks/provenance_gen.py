"""Batched sampling from the embedded SmolLM2 for benchmarks/provenance.py (the in-process teacher answers one
request at a time; batching 16 left-padded prompts is several times faster on CPU).

Answers are appended to a JSONL file one batch at a time, so an interrupted run resumes: rows already there
(same source label and prompt id) are not asked again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


class Batched:
    """SmolLM2 (or any HF folder) generating batches of chat prompts with left padding.

    Args:
        model: an embedded model name or HF folder.
    """

    def __init__(self, model: str = "smollm2"):
        import torch

        from distill.lm.models import load_model, load_tokenizer, resolve

        torch.set_num_threads(2)
        path = resolve(model)
        self.tok = load_tokenizer(path)
        self.tok.padding_side = "left"
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = load_model(path)

    def generate(self, conversations: list[list[dict]], *, max_tokens: int, temperature: float, seed: int) -> list[str]:
        """One sampled answer per conversation.

        Args:
            conversations: chat message lists.
            max_tokens: tokens per answer.
            temperature: sampling temperature (0: greedy).
            seed: torch seed for this batch.

        Returns:
            The answers, in order.
        """
        import torch

        texts = [self.tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in conversations]
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(seed)
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=max_tokens, do_sample=temperature > 0,
                                      temperature=temperature if temperature > 0 else None, top_p=None, top_k=None,
                                      pad_token_id=self.tok.pad_token_id)
        return [self.tok.decode(o[enc["input_ids"].shape[1]:], skip_special_tokens=True).strip() for o in out]


def collect(engine: Batched, path: Path, label: str, prompts: list, *, system: str | None, temperature: float,
            seed: int, max_tokens: int = 48, batch: int = 16) -> list[dict]:
    """Answers of one source (label) to ``prompts``, appended to ``path``; rows already there are kept.

    Args:
        engine: the batched model.
        path: the answers JSONL file.
        label: the source's name.
        prompts: :class:`~distill.detect.attribution.prompts.Prompt` objects (or objects with id/group/lang/text).
        system: the system prompt (None: none).
        temperature: sampling temperature.
        seed: base seed; batch b uses seed * 1000 + b.
        max_tokens: tokens per answer.
        batch: prompts per batch.

    Returns:
        This source's rows for ``prompts``.
    """
    have = {}
    if path.exists():
        for line in path.read_text("utf-8").splitlines():
            r = json.loads(line)
            have[(r["source"], r["prompt_id"])] = r
    todo = [p for p in prompts if (label, p.id) not in have]
    t0 = time.time()
    for b in range(0, len(todo), batch):
        chunk = todo[b:b + batch]
        convs = [([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": p.text}]
                 for p in chunk]
        answers = engine.generate(convs, max_tokens=max_tokens, temperature=temperature, seed=seed * 1000 + b)
        with open(path, "a", encoding="utf-8") as f:
            for p, a in zip(chunk, answers, strict=True):
                row = {"source": label, "prompt_id": p.id, "group": p.group, "lang": p.lang, "prompt": p.text,
                       "system": system, "temperature": temperature, "seed": seed * 1000 + b, "answer": a}
                have[(label, p.id)] = row
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"  {label}: {b + len(chunk)}/{len(todo)} in {time.time() - t0:.0f} s", flush=True)
    return [have[(label, p.id)] for p in prompts]
