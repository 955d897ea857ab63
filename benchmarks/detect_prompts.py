"""Held-out quality of the prompt classifier of `distill detect traffic`, per category and language.

The held-out set (tests/detect/heldout_prompts.tsv) was written apart from the training set, in
other phrasings, topics and templates; nothing was tuned on it (the operating point, C = 10 and
threshold 0.5, was chosen by 5-fold cross-validation on the training set, printed here too).
Writes benchmarks/results/detect_prompts.json and .md.

    python benchmarks/detect_prompts.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def rows(path: Path):
    r = [line.split("\t", 3) for line in path.read_text(encoding="utf-8").splitlines()
         if line and not line.startswith("#")]
    return ([x[3].replace("\\n", "\n") for x in r], np.array([int(x[0]) for x in r]),
            np.array([x[1] for x in r]), np.array([x[2] for x in r]))


def rates(pred, y) -> dict:
    pos, neg = y == 1, y == 0
    return {"n": int(len(y)), "recall": round(float(pred[pos].mean()), 3) if pos.any() else None,
            "fpr": round(float(pred[neg].mean()), 3) if neg.any() else None}


def cross_validated(x, y) -> dict:
    from sklearn.model_selection import StratifiedKFold

    from distill.detect import prompts as P

    oof = np.zeros(len(x))
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(x, y):
        X, idf = P.features([x[i] for i in tr])
        oof[te] = P.fit(X, y[tr]).predict_proba(P.features([x[i] for i in te], idf)[0])[:, 1]
    return rates(oof >= 0.5, y)


def main() -> None:
    from distill.detect import prompts as P

    x, y, cat, lang = rows(ROOT / "tests" / "detect" / "heldout_prompts.tsv")
    t = time.perf_counter()
    pred = P.classify(x).astype(bool)
    tx, ty = P.training_set()
    res = {
        "held_out": rates(pred, y), "learned_only": rates(P.probability(x) >= 0.5, y),
        "keywords_only": rates(P.pattern_hit(x), y), "train_cv_5fold": cross_validated(tx, ty),
        "per_category": {c: rates(pred[cat == c], y[cat == c]) for c in sorted(set(cat))},
        "per_language": {g: rates(pred[lang == g], y[lang == g]) for g in sorted(set(lang))},
        "n_train": len(tx), "n_held_out": len(x),
    }
    # the goal of each held-out extraction prompt (what split_by_goal / merge_by_goal read): accuracy, per goal
    ext = y == 1
    truth = np.array([P.GOALS.index(c) for c in cat[ext]])
    got = P.goal([x[i] for i in np.flatnonzero(ext)])
    res["goal"] = {"n": int(ext.sum()), "accuracy": round(float((got == truth).mean()), 3),
                   "recall_per_goal": {g: round(float((got[truth == k] == k).mean()), 3) for k, g in enumerate(P.GOALS)},
                   "confusion": {g: {h: int(((truth == k) & (got == j)).sum()) for j, h in enumerate(P.GOALS)}
                                 for k, g in enumerate(P.GOALS)}}
    big = (tx * 60)[:100_000]
    t = time.perf_counter()
    P.classify(big)
    res["prompts_per_second_one_core"] = round(len(big) / (time.perf_counter() - t))
    out = ROOT / "benchmarks" / "results"
    (out / "detect_prompts.json").write_text(json.dumps(res, indent=2) + "\n")
    md = ["# Prompt classifier, held-out set (`python benchmarks/detect_prompts.py`)", "",
          f"Held-out: {res['n_held_out']} prompts written apart from the {res['n_train']} training prompts.", "",
          "| view | recall | FPR |", "|---|---|---|"]
    for k in ("held_out", "learned_only", "keywords_only", "train_cv_5fold"):
        md.append(f"| {k} | {res[k]['recall']} | {res[k]['fpr']} |")
    md += ["", "| category | n | recall (label 1) / flagged share (label 0) |", "|---|---|---|"]
    for c, r in res["per_category"].items():
        md.append(f"| {c} | {r['n']} | {r['recall'] if r['recall'] is not None else r['fpr']} |")
    md += ["", "| language | n | recall | FPR |", "|---|---|---|---|"]
    for g, r in res["per_language"].items():
        md.append(f"| {g} | {r['n']} | {r['recall']} | {r['fpr']} |")
    gl = res["goal"]
    md += ["", f"Goal of the {gl['n']} held-out extraction prompts (`distill.detect.prompts.goal`): accuracy "
           f"{gl['accuracy']}; rows true goal, columns predicted.", "",
           "| goal | " + " | ".join(P.GOALS) + " | recall |", "|---|" + "---|" * (len(P.GOALS) + 1)]
    for g in P.GOALS:
        md.append(f"| {g} | " + " | ".join(str(gl["confusion"][g][h]) for h in P.GOALS)
                  + f" | {gl['recall_per_goal'][g]} |")
    md += ["", f"Speed: {res['prompts_per_second_one_core']:,} prompts/s on one core."]
    (out / "detect_prompts.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
