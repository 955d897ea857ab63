"""`distill detect watermark FILE`: is each text watermarked with our key?

Each text is tokenized with the generating model's tokenizer; every position with a full window of ``h``
previous tokens gives a (window, token) pair; repeated pairs are scored once (Kirchenbauer et al. 2023,
§7: a repeated phrase would otherwise count its green tokens many times and break the independence the
z-test assumes). The z-score, its one-sided normal p-value and the exact binomial p-value are reported per
text; a text is flagged when the p-value is below ``--alpha``. The first ``h`` tokens of a text have no
window inside it and are not scored.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

from distill.config import doc, settings, to_dict
from distill.results import Result
from distill.watermark.greenlist import GreenList
from distill.watermark.stats import green_test

log = logging.getLogger(__name__)

TEXT_FIELDS = ("text", "answer", "completion", "response", "content")


def pairs(ids: Sequence[int], h: int) -> list[tuple[tuple[int, ...], int]]:
    """The (window, token) pairs of a token sequence, deduplicated, in order of first appearance.

    Args:
        ids: the text's token ids.
        h: the window width (the watermark's context).

    Returns:
        [(window of h ids, token id), ...], each pair once.
    """
    seen, out = set(), []
    for i in range(h, len(ids)):
        p = (tuple(ids[i - h:i]), int(ids[i]))
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def score_ids(ids: Sequence[int], greenlist: GreenList, dedup: bool = True) -> dict:
    """The green test of one token sequence.

    Args:
        ids: the text's token ids.
        greenlist: the keyed split.
        dedup: score each (window, token) pair once (the default, which keeps the null valid); False
            scores every position (the paper's basic test).

    Returns:
        The dict of :func:`~distill.watermark.stats.green_test`, plus "tokens".
    """
    h = greenlist.context
    ps = pairs(ids, h) if dedup else [(tuple(ids[i - h:i]), int(ids[i])) for i in range(h, len(ids))]
    g = greenlist.is_green([w for w, _ in ps], [t for _, t in ps])
    return {"tokens": len(ids)} | green_test(int(g.sum()), len(ps), greenlist.gamma)


def score_texts(texts: Sequence[str], tokenizer, greenlist: GreenList, dedup: bool = True) -> list[dict]:
    """The green test of each text, tokenized without special tokens.

    Args:
        texts: the texts.
        tokenizer: the generating model's tokenizer (an HF tokenizer).
        greenlist: the keyed split.
        dedup: as for :func:`score_ids`.

    Returns:
        One result dict per text, in order.
    """
    return [score_ids(tokenizer(t, add_special_tokens=False)["input_ids"], greenlist, dedup) for t in texts]


def read_texts(path: str | Path, field: str = "") -> list[str]:
    """The texts of a file: one per line of a ``.jsonl`` file (a string, or a record's text field), else the
    whole file as one text.

    Args:
        path: the file.
        field: the JSONL records' text field (default: the first of "text", "answer", "completion",
            "response", "content" present).

    Returns:
        The texts, in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a JSONL line that is neither a string nor a record with the field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    if path.suffix.lower() != ".jsonl":
        return [path.read_text("utf-8")]
    texts = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        if isinstance(rec, str):
            texts.append(rec)
            continue
        name = field or next((f for f in TEXT_FIELDS if isinstance(rec, dict) and f in rec), "")
        if not isinstance(rec, dict) or not isinstance(rec.get(name), str):
            raise ValueError(f"{path}:{n}: expected a string or a record with a text field "
                             f"({field or ' / '.join(TEXT_FIELDS)}).")
        texts.append(rec[name])
    return texts


@settings
class WatermarkSplit:
    """The watermark's public parameters (the key comes from the environment)."""

    watermark_key_env: str = doc("NAME of the environment variable holding the watermark key (the key is never "
                                 "logged or written)", required=True, default="")
    watermark_gamma: float = doc("green share of the vocabulary γ", default=0.25, gt=0, lt=1)
    watermark_context: int = doc("previous tokens that seed the split (h)", default=1, ge=1)

    def greenlist(self) -> GreenList:
        """The split these options name, its key read from the environment.

        Returns:
            The :class:`GreenList`.
        """
        from distill.watermark.keys import read_key

        return GreenList(read_key(self.watermark_key_env), self.watermark_gamma, self.watermark_context)


@settings
class DetectWatermarkConfig(WatermarkSplit):
    """Settings of `distill detect watermark`."""

    file: str = doc("texts to test: a .jsonl file (one string or record per line) or a text file (one text)",
                    flag="file", default="", required=True)
    tokenizer: str = doc("the generating model (its tokenizer is used): an HF folder or 'smollm2'",
                         default="smollm2")
    field: str = doc("text field of the JSONL records (default: text / answer / completion / response / content)",
                     default="")
    alpha: float = doc("flag a text when its p-value is below this (the false-positive rate per text)",
                       default=0.01, gt=0, lt=1)
    no_dedup: bool = doc("score every position, not each (window, token) pair once (invalid null on repetitive "
                         "text; for comparison with the paper's basic test)", default=False)
    out: str = doc("output folder: results.json, results.md", default="runs/watermark")


def markdown(res: dict) -> str:
    """The report of `distill detect watermark`.

    Args:
        res: the result of :func:`run`.

    Returns:
        Markdown text.
    """
    s = res["summary"]
    lines = [f"# Watermark detection: {res['file']}", "",
             f"{s['flagged']} of {s['texts']} texts flagged at p < {res['alpha']} (γ = {res['gamma']}, h = "
             f"{res['context']}, key from ${res['key_env']}; pairs deduplicated: {res['dedup']}).", "",
             "| # | tokens | scored | green share | z | p (normal) | p (exact) | flagged |", "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(res["texts"][:200]):
        lines.append(f"| {i} | {r['tokens']} | {r['scored']} | {r['green_share']} | {r['z']:.2f} | {r['p_value']:.2e} | "
                     f"{r['p_value_exact']:.2e} | {'yes' if r['flagged'] else 'no'} |")
    if len(res["texts"]) > 200:
        lines.append(f"\n… {len(res['texts']) - 200} more texts in results.json")
    lines += ["", "A small p-value says the text carries this key's green-list bias; it cannot say who generated it "
              "beyond 'a model watermarked with this key', and paraphrasing or translating the text weakens it. "
              "Texts with few scored pairs have little power either way."]
    return "\n".join(lines) + "\n"


class WatermarkResult(Result):
    """What `distill detect watermark` returns (``results.json``): a z-score and p-values per text; summary
    ``results.md``. Holds the key's environment variable name, never the key."""

    texts: list
    summary: dict
    out: str


def run(cfg: DetectWatermarkConfig) -> WatermarkResult:
    """Score every text of ``cfg.file``; write ``results.json`` / ``results.md`` under ``cfg.out``.

    Args:
        cfg: the settings.

    Returns:
        {"file", "key_env", "gamma", "context", "alpha", "dedup", "texts": [...], "summary", "config", "out"}.
    """
    from distill.files import write_results
    from distill.lm.models import load_tokenizer

    greenlist = cfg.greenlist()  # fails early on an unset key
    texts = read_texts(cfg.file, cfg.field)
    tok = load_tokenizer(cfg.tokenizer)
    scores = score_texts(texts, tok, greenlist, dedup=not cfg.no_dedup)
    for s in scores:
        s["flagged"] = s["p_value"] < cfg.alpha
    flagged = sum(s["flagged"] for s in scores)
    res = {"file": str(cfg.file), "key_env": cfg.watermark_key_env, "gamma": cfg.watermark_gamma,
           "context": cfg.watermark_context, "alpha": cfg.alpha, "dedup": not cfg.no_dedup, "texts": scores,
           "summary": {"texts": len(scores), "flagged": flagged,
                       "flagged_share": round(flagged / len(scores), 4) if scores else None},
           "config": to_dict(cfg), "out": cfg.out}
    res = WatermarkResult(res, report=markdown(res))
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    write_results(cfg.out, res)
    log.info("scored %d texts: %d flagged at p < %s", len(scores), flagged, cfg.alpha)
    return res
