"""`distill detect attribution-predict FILE`: each text's probability per source, or "none of these".

FILE is JSONL (a ``text`` or ``answer`` field per line) or plain text (one text per line). The open-set
threshold is the one `attribution-train` chose; it is a hint, not proof: a text from a model outside the N
is still forced onto one of them at the rate the training report measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from distill.config import doc, settings
from distill.detect.attribution import classify as C
from distill.detect.attribution import model as M
from distill.files import atomic_text
from distill.results import Result


@settings
class AttributionPredictConfig:
    """Settings of `distill detect attribution-predict`."""

    file: str = doc("texts to attribute: JSONL (field text or answer) or plain text, one per line",
                    flag="file", default="", required=True)
    model: str = doc("folder `distill detect attribution-train` wrote", default="runs/attribution/model")
    classifier: str = doc("which saved classifier: tfidf or embedding", default="tfidf", choices=C.KINDS)
    out: str = doc("predictions JSONL (default: FILE's name + .attribution.jsonl beside it)", default="")


def read_texts(path: str | Path) -> list[str]:
    """Texts from a JSONL (``text`` or ``answer`` field) or plain-text file.

    Args:
        path: the file.

    Returns:
        The texts, blank lines skipped.
    """
    texts = []
    for line in Path(path).read_text("utf-8").split("\n"):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            row = json.loads(line)
            texts.append(str(row.get("text", row.get("answer", ""))))
        else:
            texts.append(line)
    return texts


def scores(est, card: M.Card, texts: list[str], embed=None) -> list[dict]:
    """Per text: the probability of each source, the decision and whether it is "none of these".

    Args:
        est: the loaded estimator.
        card: its card.
        texts: the texts.
        embed: the embedder (embedding kind; None: MiniLM).

    Returns:
        One dict per text: ``text``, ``probabilities`` (source → p), ``source`` (or "none of these"),
        ``max_probability``, ``none_of_these``.
    """
    X = texts
    if card.kind == "embedding":
        if embed is None:
            from distill.docs.quality import load_embedder

            embed = load_embedder()
        X = np.asarray(embed(texts))
    proba = est.predict_proba(X) if texts else np.zeros((0, len(card.classes)))
    classes = np.array(card.classes)
    decided = C.decide(proba, classes, card.threshold)
    return [{"text": t, "probabilities": {c: round(float(p), 6) for c, p in zip(card.classes, row, strict=True)},
             "source": str(d), "max_probability": round(float(row.max()), 6), "none_of_these": d == C.NONE}
            for t, row, d in zip(texts, proba, decided, strict=True)]


class PredictResult(Result):
    """What `distill detect attribution-predict` returns: texts per predicted source, and where the predictions are."""

    texts: int
    by_source: dict
    predictions: str

    def summary(self) -> str:
        return markdown(self)


def predict(cfg: AttributionPredictConfig, *, embed=None) -> PredictResult:
    """Score every text of ``cfg.file``; write the predictions JSONL.

    Args:
        cfg: the settings.
        embed: the embedder to inject (tests).

    Returns:
        Counts per decided source, the predictions file and the threshold used.
    """
    est, card = M.load(cfg.model, cfg.classifier)
    rows = scores(est, card, read_texts(cfg.file), embed)
    out = Path(cfg.out or f"{cfg.file}.attribution.jsonl")
    atomic_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    counts = {}
    for r in rows:
        counts[r["source"]] = counts.get(r["source"], 0) + 1
    return PredictResult({"texts": len(rows), "by_source": dict(sorted(counts.items())), "threshold": card.threshold,
                          "classifier": card.kind, "predictions": str(out)})


def markdown(res: dict) -> str:
    """One line per decided source.

    Args:
        res: :func:`predict`'s result.

    Returns:
        The summary text.
    """
    parts = ", ".join(f"{k}: {v}" for k, v in res["by_source"].items())
    return (f"{res['texts']} texts ({res['classifier']}, 'none of these' below max probability "
            f"{res['threshold']:.3f}): {parts} → {res['predictions']}")
