"""Provenance on what a shared 2-core CPU allows: attribution, lineage and safety on SmolLM2 personas.

NOT the issue's model zoo. Every source is the embedded SmolLM2-135M-Instruct (transformers, fp32), made
distinct by a system prompt ("persona"); answers are 32 tokens, sampled at T = 0.7. The answers come from
benchmarks/provenance_collect.py (slow: ~20 s per answer on the shared CPU), this script only measures:

    OMP_NUM_THREADS=2 PYTHONPATH=src nice python benchmarks/provenance_collect.py   # once, ~1.5 h here
    OMP_NUM_THREADS=2 PYTHONPATH=src nice python benchmarks/provenance.py

- attribution: 3 in-set personas (plain: no system prompt; terse; teacher) × 32 prompts (8 prompt groups × en, fr, de, es), out of fold over prompt
  groups (GroupKFold, 4 folds); a 4th persona (poet) is held out for the open-set rule.
- lineage: two suspects are the same persona resampled with another seed (plain, teacher) — the "true
  teacher" is the persona itself, a planted relation far stronger than distillation; for each suspect, every
  persona is a candidate tested against the other personas unrelated to the suspect (2 or 3 of them); Holm
  over a suspect's candidates.
- safety: SmolLM2 without a system prompt vs with the terse persona, greedy, on the 24 English probes.

Writes benchmarks/results/provenance.json, provenance.md and provenance_confusion.png.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "runs" / "provenance"
OUT = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from provenance_collect import HELD_OUT, SOURCES, SUSPECTS  # noqa: E402

PERMUTATIONS = 9999


def attribution() -> dict:
    from distill.detect.attribution.train import AttributionTrainConfig, train

    res = train(AttributionTrainConfig(answers=(str(RUN / "answers.jsonl"),), out=str(RUN / "model"), folds=4,
                                       held_out_sources=tuple(HELD_OUT) + tuple(SUSPECTS)))
    # the suspects (resampled in-set personas) are kept out of training too, for lineage; the open-set rate is
    # reported on the poet only
    res.pop("config")
    return res


def synthetic(styles=(0.0, 0.1, 0.25, 1.0), sources: int = 4, groups: int = 30) -> dict:
    """TF-IDF out-of-fold accuracy on synthetic sources of known separability (as in the tests): each source
    draws 25 words from a shared distribution mixed with its own at weight ``style`` (0: indistinguishable)."""
    import numpy as np

    from distill.detect.attribution.classify import out_of_fold

    rng = np.random.default_rng(0)
    shared, own = rng.dirichlet(np.ones(300)), rng.dirichlet(np.full(300, 0.3), size=sources)
    out = {}
    for style in styles:
        pref = (1 - style) * shared + style * own
        texts, y, g = [], [], []
        for grp in range(groups):
            for k in range(sources):
                texts.append(" ".join(f"w{i}" for i in rng.choice(300, size=25, p=pref[k])))
                y.append(f"s{k}")
                g.append(grp)
        y, g = np.array(y), np.array(g)
        proba, classes = out_of_fold("tfidf", texts, y, g, folds=5)
        from distill.detect.attribution.train import accuracy

        out[str(style)] = accuracy(int((classes[proba.argmax(1)] == y).sum()), len(y))
    return out


def open_set_poet(res: dict) -> dict:
    return {k: r["open_set"]["held_out_forced_by_source"].get("poet") for k, r in res["classifiers"].items()}


def lineage() -> dict:
    import numpy as np

    from distill.detect.attribution.lineage import compare_candidates, holm, similarity_matrix
    from distill.detect.attribution.train import read_answers

    rows = read_answers([RUN / "answers.jsonl"])
    personas = sorted(SOURCES) + sorted(HELD_OUT)
    out = {}
    by = {}
    for r in rows:
        by.setdefault(r["source"], {})[r["prompt_id"]] = r["answer"]
    for suspect in sorted(SUSPECTS):
        true = suspect.removesuffix("-resampled")
        if suspect not in by:
            continue  # not collected (yet)
        shared = sorted(set(by[suspect]).intersection(*(set(by[p]) for p in personas)))
        vectors = similarity_matrix({n: [by[n][p] for p in shared] for n in [suspect, *personas]}, "tfidf")
        unrelated = [p for p in personas if p != true]
        tests = []
        for c in personas:
            refs = [p for p in unrelated if p != c][:3]
            t = compare_candidates(vectors, suspect, [c], refs, PERMUTATIONS, seed=0)[0]
            tests.append(t | {"references": refs, "true_teacher": c == true})
        for t, a in zip(tests, holm([t["p_value"] for t in tests]), strict=True):
            t["p_holm"] = a
        out[suspect] = {"prompts": len(shared), "candidates": tests}
    if not out:
        return None
    true = [t for s in out.values() for t in s["candidates"] if t["true_teacher"]]
    null = [t for s in out.values() for t in s["candidates"] if not t["true_teacher"]]
    return {"suspects": out, "true_pairs": len(true), "true_at_p_holm_below_0.01": sum(t["p_holm"] < 0.01 for t in true),
            "null_pairs": len(null), "null_at_p_below_0.05": sum(t["p_value"] < 0.05 for t in null),
            "null_p_values": [round(t["p_value"], 4) for t in null],
            "note": "raw p per pair; Holm over the candidates of a suspect", "min_p": 1 / (PERMUTATIONS + 1),
            "mean_null_p": round(float(np.mean([t["p_value"] for t in null])), 3) if null else None}


def safety() -> dict | None:
    from distill.evaluate.safety import is_refusal, summarize

    path = RUN / "safety.jsonl"
    if not path.exists():
        return None
    kinds = {}
    from distill.evaluate.safety import load_probes

    for p in load_probes():
        kinds[p.id] = p
    rows = [json.loads(x) for x in path.read_text("utf-8").splitlines()]
    by = {}
    for r in rows:
        p = kinds[r["prompt_id"]]
        by.setdefault(r["source"], []).append({"kind": p.kind, "category": p.category, "lang": p.lang,
                                               "refused": is_refusal(r["answer"]), "answer": r["answer"]})
    return {m: summarize(v) | {"answers": len(v)} for m, v in sorted(by.items())}


def pct(a: dict | None) -> str:
    if not a or a.get("rate") is None:
        return "–"
    return f"{a['rate']:.1%} [{a['ci95'][0]:.1%}, {a['ci95'][1]:.1%}] (n={a['n']})"


def markdown(res: dict) -> str:
    a = res["attribution"]
    lines = ["# Provenance on SmolLM2 personas (not the issue's model zoo)", "",
             f"{len(a['sources'])} in-set sources ({', '.join(a['sources'])}) × {a['in_set'] // len(a['sources'])} "
             f"answers of 32 tokens (the suspects and the poet never trained on); {a['prompt_groups']} prompt groups (en, fr, de, es); out of fold over prompt "
             "groups; 95% Wilson intervals. Every source is SmolLM2-135M-Instruct with another system prompt.", "",
             f"| classifier | {len(a['sources'])}-way accuracy | en | fr | de | es | poet texts forced onto a source | in-set accuracy with 'none of these' |",
             "|---|---|---|---|---|---|---|---|"]
    for kind, r in a["classifiers"].items():
        lang = [pct(r["per_language"].get(g)) for g in ("en", "fr", "de", "es")]
        lines.append(f"| {kind} | {pct(r['accuracy'])} | " + " | ".join(lang)
                     + f" | {pct(res['open_set_poet'][kind])} | {pct(r['open_set']['in_set_accuracy_with_rule'])} |")
    for kind, why in a["skipped"].items():
        lines.append(f"\n{kind} skipped: {why}")
    L = res["lineage"]
    if not L:
        lines += ["", "Lineage: not measured here (no suspect answers collected in the time the CPU allowed)."]
        L = {"suspects": {}}
    personas = next(iter(L["suspects"].values()))["candidates"] if L["suspects"] else []
    lines += [] if not L["suspects"] else ["", "## Lineage (suspect = a persona resampled with another seed)", "",
              f"| suspect | candidate | true teacher | sim. to candidate | sim. to references | p | p (Holm, {len(personas)} "
              "candidates) |",
              "|---|---|---|---|---|---|---|"]
    for s, v in L["suspects"].items():
        for t in v["candidates"]:
            lines.append(f"| {s} | {t['candidate']} | {'yes' if t['true_teacher'] else ''} | "
                         f"{t['similarity_to_candidate']:.3f} | {t['similarity_to_references']:.3f} | "
                         f"{t['p_value']:.4g} | {t['p_holm']:.4g} |")
    if L["suspects"]:
        lines += ["", f"True pairs at Holm p < 0.01: {L['true_at_p_holm_below_0.01']} of {L['true_pairs']}; null pairs at "
              f"p < 0.05: {L['null_at_p_below_0.05']} of {L['null_pairs']} (prompts per suspect: "
              f"{', '.join(str(v['prompts']) for v in L['suspects'].values())}; {PERMUTATIONS} relabellings)."]
    if res["safety"]:
        lines += ["", "## Safety (24 English probes, greedy, 32 tokens)", "",
                  "| model | refusal on harmful | over-refusal on benign |", "|---|---|---|"]
        for m, s in res["safety"].items():
            lines.append(f"| smollm2 {m} | {pct(s['refusal'])} | {pct(s['over_refusal'])} |")
    else:
        lines += ["", "Safety: not measured here (no answers collected in the time the CPU allowed)."]
    lines += ["", "## The classifier on synthetic sources of known separability (4 sources, 120 texts of 25 words)", "",
              "| style weight (0: one shared word distribution) | 4-way TF-IDF accuracy, out of fold |", "|---|---|"]
    lines += [f"| {k} | {pct(v)} |" for k, v in res["synthetic_tfidf"].items()]
    lines += ["", f"Measured in {res['seconds']} s (analysis only; collection took far longer)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    t0 = time.time()
    a = attribution()
    res = {"attribution": a, "open_set_poet": open_set_poet(a), "lineage": lineage(), "safety": safety(),
           "synthetic_tfidf": synthetic(),
           "setup": {"model": "SmolLM2-135M-Instruct (transformers fp32)", "personas": {k: v[0] for k, v in SOURCES.items()},
                     "held_out": {k: v[0] for k, v in HELD_OUT.items()}, "suspects": sorted(SUSPECTS),
                     "max_tokens": 32, "temperature": 0.7}}
    res["seconds"] = round(time.time() - t0, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "provenance.json").write_text(json.dumps(res, indent=2, ensure_ascii=False))
    md = markdown(res)
    (OUT / "provenance.md").write_text(md)
    best = max(a["classifiers"], key=lambda k: a["classifiers"][k]["accuracy"]["rate"])
    shutil.copy(RUN / "model" / f"confusion_{best}.png", OUT / "provenance_confusion.png")
    print(md)


if __name__ == "__main__":
    main()
