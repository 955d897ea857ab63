"""`distill detect radioactivity`: was a suspect model trained on text watermarked with our key?

Sander et al. (2024), "Watermarking makes language models radioactive": a model fine-tuned on watermarked
text learns the green-list bias, and that bias can be read back with the key.

- **open** mode (the suspect's weights are at hand): feed watermarked texts through the suspect
  (teacher forcing) and, at each position, test whether its top-1 next-token prediction is green for the
  text's window there;
- **closed** mode (only its outputs): let the suspect continue prompts (the beginnings of the texts) and
  test its generated tokens.

The filters keep the p-value valid when the suspect was *not* trained on watermarked text (the null):

1. a position is scored only if its window has not already occurred earlier in the same input (prompt and
   text): otherwise a model that copies from its context (induction heads) would repeat the green token the
   watermark put after that window, and look radioactive without any training on it;
2. each (window, token) tuple is scored once over the whole run (repeated tuples are perfectly correlated).

Under the null each remaining tuple is green with probability γ, independently (the split is a keyed hash of
the window and token), so the green count of N tuples is Binomial(N, γ) and the exact tail is the p-value.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Literal, Sequence

from distill.config import doc, settings, to_dict
from distill.results import Result
from distill.watermark.detect import WatermarkSplit, read_texts
from distill.watermark.greenlist import GreenList
from distill.watermark.stats import green_test

log = logging.getLogger(__name__)


class TupleFilter:
    """Collects (window, token) tuples to score, applying the two filters of the module docstring.

    Args:
        h: the watermark's window width.
    """

    def __init__(self, h: int):
        self.h = h
        self.tuples: list[tuple[tuple[int, ...], int]] = []
        self._scored: set[tuple[tuple[int, ...], int]] = set()
        self.skipped_seen_window = 0
        self.skipped_duplicate = 0

    def add(self, ids: Sequence[int], predicted: Sequence[int | None]) -> None:
        """Add one input: its token ids and, per position, the token to score there (None: not scored).

        Args:
            ids: the input's token ids (prompt and text, or prompt and generation), length L.
            predicted: length L; ``predicted[i]`` is the suspect's token for position i (its prediction
                given ``ids[:i]`` in open mode, the generated token ``ids[i]`` in closed mode).
        """
        h, seen = self.h, set()
        for i in range(h, len(ids)):
            window = tuple(int(t) for t in ids[i - h:i])
            first = window not in seen
            seen.add(window)
            if predicted[i] is None:
                continue
            if not first:
                self.skipped_seen_window += 1
                continue
            tup = (window, int(predicted[i]))
            if tup in self._scored:
                self.skipped_duplicate += 1
                continue
            self._scored.add(tup)
            self.tuples.append(tup)

    def test(self, greenlist: GreenList) -> dict:
        """The green test of the collected tuples.

        Args:
            greenlist: the keyed split.

        Returns:
            :func:`~distill.watermark.stats.green_test`'s dict plus the filter counts.
        """
        g = greenlist.is_green([w for w, _ in self.tuples], [t for _, t in self.tuples])
        return green_test(int(g.sum()), len(self.tuples), greenlist.gamma) | {
            "skipped_seen_window": self.skipped_seen_window, "skipped_duplicate": self.skipped_duplicate}


def open_predictions(model, seqs: Sequence[Sequence[int]], device: str = "cpu",
                     tokens_per_batch: int = 8192) -> list[list[int | None]]:
    """The suspect's top-1 next-token prediction at each position of each sequence (teacher forcing), batched.

    Sequences are sorted by length and right-padded into batches of about ``tokens_per_batch`` tokens. Causal
    attention means no position sees the padding after it, so each row is what the sequence gives alone
    (tests check batched == one by one); the budget bounds the (B, L, V) logits of one forward.

    Args:
        model: a causal LM.
        seqs: token ids of each sequence (L_i,).
        device: where the model is.
        tokens_per_batch: padded tokens per forward (at least one sequence per forward).

    Returns:
        One list per sequence, length L_i: None at position 0, then argmax p(· | ids[:i]) for i ≥ 1.
    """
    import torch

    order = sorted(range(len(seqs)), key=lambda i: (-len(seqs[i]), i))  # longest first: less padding, stable
    out: list[list[int | None]] = [[] for _ in seqs]
    start = 0
    with torch.inference_mode():
        while start < len(order) and len(seqs[order[start]]) > 0:
            width = len(seqs[order[start]])
            idx = order[start:start + max(1, tokens_per_batch // width)]
            x = torch.zeros(len(idx), width, dtype=torch.long)
            mask = torch.zeros(len(idx), width, dtype=torch.long)
            for row, i in enumerate(idx):
                x[row, :len(seqs[i])] = torch.as_tensor(list(seqs[i]), dtype=torch.long)
                mask[row, :len(seqs[i])] = 1
            logits = model(input_ids=x.to(device), attention_mask=mask.to(device)).logits  # (B, L, V)
            pred = logits[:, :-1].argmax(-1).tolist()
            for row, i in enumerate(idx):
                if seqs[i]:  # an empty sequence has no positions (it can share the last batch)
                    out[i] = [None] + pred[row][:len(seqs[i]) - 1]
            start += len(idx)
    return out


def open_mode(predict_many, texts_ids: Iterable[Sequence[int]], greenlist: GreenList, max_len: int = 0) -> dict:
    """Open-mode test over watermarked texts.

    Args:
        predict_many: ``predict_many(list of ids) -> per-position predictions of each`` as
            :func:`open_predictions` gives them (``lambda seqs: open_predictions(model, seqs)`` for a causal LM).
        texts_ids: token ids of each watermarked text.
        greenlist: the keyed split.
        max_len: cut each text to this many tokens (0: no cut; keep it within the model's context).

    Returns:
        The dict of :meth:`TupleFilter.test`.
    """
    f = TupleFilter(greenlist.context)
    texts = [list(ids)[:max_len] if max_len else list(ids) for ids in texts_ids]
    texts = [ids for ids in texts if len(ids) > greenlist.context]
    for ids, pred in zip(texts, predict_many(texts), strict=True):
        f.add(ids, pred)
    return f.test(greenlist)


def closed_mode(generate, prompts_ids: Iterable[Sequence[int]], greenlist: GreenList) -> dict:
    """Closed-mode test: score the suspect's own continuations of prompts.

    Args:
        generate: ``generate(prompt_ids) -> generated ids`` (the suspect as a black box).
        prompts_ids: token ids of each prompt.
        greenlist: the keyed split.

    Returns:
        The dict of :meth:`TupleFilter.test`.
    """
    f = TupleFilter(greenlist.context)
    for prompt in prompts_ids:
        prompt = list(prompt)
        new = list(generate(prompt))
        ids = prompt + new
        f.add(ids, [None] * len(prompt) + new)  # windows may reach into the prompt; prompt tokens are not scored
    return f.test(greenlist)


@settings
class RadioactivityConfig(WatermarkSplit):
    """Settings of `distill detect radioactivity`."""

    suspect: str = doc("the suspect model: an HF folder or an embedded model ('smollm2'); it must use the "
                       "watermarking model's tokenizer", default="", required=True)
    file: str = doc("watermarked texts (.jsonl, one string or record per line; or a text file): what our "
                    "watermarked model produced", flag="file", default="", required=True)
    mode: Literal["open", "closed"] = doc("open: score the suspect's next-token predictions on the texts "
                                          "(needs its weights); closed: score its continuations of prompts",
                                          default="open")
    field: str = doc("text field of the JSONL records (default: text / answer / completion / response / content)",
                     default="")
    max_texts: int = doc("use the first N texts (0: all)", default=0, ge=0)
    max_len: int = doc("tokens per text fed to the suspect (open mode)", default=256, ge=2)
    prompt_tokens: int = doc("closed mode: the first N tokens of each text are the prompt", default=16, ge=1)
    max_new_tokens: int = doc("closed mode: tokens the suspect generates per prompt", default=64, ge=1)
    temperature: float = doc("closed mode: sampling temperature (0: greedy)", default=1.0, ge=0)
    seed: int = doc("closed mode: seed of prompt i's sampling is seed + i", default=0)
    device: str = doc("torch device (default: cuda when available, else cpu)", default="")
    alpha: float = doc("call the suspect radioactive when p < alpha", default=1e-3, gt=0, lt=1)
    out: str = doc("output folder: results.json, results.md", default="runs/radioactivity")


CAN_CANNOT = (
    "What this can show: a small p-value means the suspect's {what} favour this key's green lists more than "
    "chance allows — evidence that it was trained (directly or through distillation) on text watermarked with "
    "this key. The filters (each window scored once per input, each tuple once per run) keep the p-value valid "
    "for a model never trained on such text, whatever its own biases.\n\n"
    "What it cannot show: a large p-value does not clear the suspect — a small share of watermarked training "
    "data, few scored tuples, a low δ, heavy further training or another tokenizer all hide the signal. It says "
    "nothing about who trained the suspect, and it needs the watermarking model's tokenizer (the green lists are "
    "defined on its token ids).")


def markdown(res: dict) -> str:
    """The plain report of `distill detect radioactivity`.

    Args:
        res: the result of :func:`run`.

    Returns:
        Markdown text.
    """
    t = res["test"]
    verdict = "radioactive" if res["radioactive"] else "no evidence of training on the watermarked text"
    what = "next-token predictions" if res["mode"] == "open" else "own generations"
    return "\n".join([
        f"# Radioactivity test ({res['mode']} mode): {res['suspect']}", "",
        f"**{verdict}** (p = {t['p_value_exact']:.3g}, threshold {res['alpha']}).", "",
        "| texts | tuples scored | green | green share | γ | z | p (exact binomial) | skipped: window seen | "
        "skipped: duplicate |", "|---|---|---|---|---|---|---|---|---|",
        f"| {res['texts']} | {t['scored']} | {t['green']} | {t['green_share']} | {res['gamma']} | {t['z']:.2f} | "
        f"{t['p_value_exact']:.3g} | {t['skipped_seen_window']} | {t['skipped_duplicate']} |", "",
        f"Key from ${res['key_env']}; window h = {res['context']}.", "",
        CAN_CANNOT.format(what=what)]) + "\n"


class RadioactivityResult(Result):
    """What `distill detect radioactivity` returns (``results.json``): the test and its p-value; summary
    ``results.md``."""

    suspect: str
    mode: str
    test: dict
    radioactive: bool
    out: str


def run(cfg: RadioactivityConfig) -> RadioactivityResult:
    """Run the test; write ``results.json`` / ``results.md`` under ``cfg.out``.

    Args:
        cfg: the settings.

    Returns:
        {"suspect", "mode", "texts", "test", "radioactive", "key_env", "gamma", "context", "alpha",
        "config", "out"}.
    """
    from distill.files import write_results
    from distill.lm.models import load_model, load_tokenizer
    from distill.teachers.hf import pick_device

    greenlist = cfg.greenlist()
    texts = read_texts(cfg.file, cfg.field)
    texts = texts[:cfg.max_texts] if cfg.max_texts else texts
    device = pick_device(cfg.device or None)
    tok = load_tokenizer(cfg.suspect)
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    if cfg.mode == "open":
        model = load_model(cfg.suspect, device=device)
        test = open_mode(lambda seqs: open_predictions(model, seqs, device), ids, greenlist, cfg.max_len)
    else:
        from distill.teachers.hf import HFEngine

        engine = HFEngine(cfg.suspect, device=device)
        counter = iter(range(len(ids)))

        def generate(prompt):
            return [s.token_id for s in engine.steps(prompt, max_tokens=cfg.max_new_tokens,
                                                     temperature=cfg.temperature, seed=cfg.seed + next(counter))]

        test = closed_mode(generate, [i[:cfg.prompt_tokens] for i in ids if len(i) > cfg.prompt_tokens], greenlist)
    res = {"suspect": cfg.suspect, "mode": cfg.mode, "texts": len(ids), "test": test,
           "radioactive": test["p_value_exact"] < cfg.alpha, "key_env": cfg.watermark_key_env,
           "gamma": cfg.watermark_gamma, "context": cfg.watermark_context, "alpha": cfg.alpha,
           "config": to_dict(cfg), "out": cfg.out}
    res = RadioactivityResult(res, report=markdown(res))
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    write_results(cfg.out, res)
    log.info("radioactivity (%s): %d tuples, p = %.3g", cfg.mode, test["scored"], test["p_value_exact"])
    return res
