"""Precision and recall of the docs quality filters on the hand-labelled set in tests/docs/data.

Grounding: an item counts as "flagged" when the filter rejects it; precision = flagged items that are
bad / flagged, recall = flagged bad items / all bad items. Near-duplicates: over labelled question
pairs, a pair is flagged when the dedup rule would drop the second question.

    python benchmarks/docs_filters.py            # writes benchmarks/results/docs_filters.{json,md}
    python benchmarks/docs_filters.py --judge smollm2   # also the teacher-as-judge grounding filter, beside the
                                                        # others: writes benchmarks/results/docs_filters_judge.*

The teacher-as-judge filter (`distill docs generate --quality.judge-grounding`) asks the judge model whether the
chunk states the answer (templates/judge_grounding.txt, greedy, one word); "no" flags the triple, an
unparsed reply does not.

The labelled set is small (28 triples, 10 pairs) and written by the same team as the filters: read
the figures as a regression check and an order of magnitude, not as a general accuracy claim.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from distill.docs.chunking import Chunk, chunk_id  # noqa: E402
from distill.docs.quality import QualityConfig, filter_items, load_embedder  # noqa: E402
from distill.docs.text import jaccard, shingles  # noqa: E402


def pr(flagged: list[bool], bad: list[bool]) -> dict:
    flagged = [bool(f) for f in flagged]
    tp = sum(f and b for f, b in zip(flagged, bad, strict=True))
    fp = sum(f and not b for f, b in zip(flagged, bad, strict=True))
    fn = sum(b and not f for f, b in zip(flagged, bad, strict=True))
    return {"precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None, "tp": tp, "fp": fp, "fn": fn}


def main(judge: str = "") -> dict:
    data = json.loads((ROOT / "tests" / "docs" / "data" / "labelled_triples.json").read_text())
    chunks = {n: Chunk(chunk_id(t), n, (n,), t) for n, t in data["chunks"].items()}
    by_id = {c.id: c for c in chunks.values()}
    items = [{"question": t["question"], "answer": t["answer"], "reasoning": "", "chunk_id": chunks[t["chunk"]].id,
              "i": i} for i, t in enumerate(data["triples"])]
    bad = [t["label"] == "bad" for t in data["triples"]]
    try:
        embed = load_embedder()
    except ModuleNotFoundError:
        embed = None
    res: dict = {"triples": len(items), "bad": sum(bad), "grounding": {}}
    for method in ("lexical", "embedding", "both"):
        if method != "lexical" and embed is None:
            continue
        cfg = QualityConfig(grounding=method, max_per_chunk=100, unanswerable_fraction=0, dedup_similarity=1.0)
        _, rejected, _ = filter_items([dict(x) for x in items], [], by_id, cfg, embed=embed)
        flagged = {r["i"] for r in rejected if r["step"] == "grounding"}
        res["grounding"][method] = pr([i in flagged for i in range(len(items))], bad) | {
            "settings": {"min_support": cfg.min_support, "min_similarity": cfg.min_similarity}}
    if judge:
        from distill.docs.judge import judge_grounding
        from distill.teachers import load_teacher

        verdicts = judge_grounding(load_teacher(judge, backend="transformers"),
                                   [{"chunk": data["chunks"][t["chunk"]], "question": t["question"],
                                     "answer": t["answer"]} for t in data["triples"]], concurrency=16)
        res["grounding"][f"teacher as judge ({judge})"] = pr([v is False for v in verdicts], bad) | {
            "unparsed": sum(v is None for v in verdicts), "said_yes": sum(v is True for v in verdicts)}
    pairs = data["question_pairs"]
    dup = [p["duplicate"] for p in pairs]
    cfg = QualityConfig()
    res["dedup"] = {"pairs": len(pairs), "lexical": pr([jaccard(shingles(p["a"]), shingles(p["b"]))
                                                        >= cfg.dedup_similarity for p in pairs], dup)}
    if embed is not None:
        a, b = embed([p["a"] for p in pairs]), embed([p["b"] for p in pairs])
        sims = np.sum(a * b, axis=1)
        res["dedup"]["embedding"] = pr([s >= cfg.dedup_similarity for s in sims], dup) | {
            "similarities": [round(float(s), 3) for s in sims]}
        best = max(((t, pr([s >= t for s in sims], dup)) for t in np.arange(0.5, 1.0, 0.05)),
                   key=lambda x: (x[1]["tp"] - x[1]["fp"]))
        res["dedup"]["embedding_best_threshold_on_this_set"] = {"threshold": round(float(best[0]), 2)} | best[1]
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "docs_filters_judge" if judge else "docs_filters"  # the embedder-free run keeps the default file
    res["embedder"] = "MiniLM" if embed is not None else "none installed (lexical only)"
    (out / f"{name}.json").write_text(json.dumps(res, indent=2))
    lines = ["| filter | precision | recall | TP / FP / FN |", "|---|---:|---:|---|"]
    for m, r in res["grounding"].items():
        lines.append(f"| grounding, {m} | {r['precision']} | {r['recall']} | {r['tp']} / {r['fp']} / {r['fn']} |")
    for m in ("lexical", "embedding"):
        if m in res["dedup"]:
            r = res["dedup"][m]
            lines.append(f"| near-duplicates, {m} | {r['precision']} | {r['recall']} | {r['tp']} / {r['fp']} / {r['fn']} |")
    md = "\n".join(lines) + "\n"
    (out / f"{name}.md").write_text(md)
    print(md)
    return res


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="precision/recall of the docs quality filters")
    p.add_argument("--judge", default="", help="teacher spec of the grounding judge (e.g. smollm2); empty: skip")
    main(p.parse_args().judge)
