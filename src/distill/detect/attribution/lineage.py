"""`distill detect lineage`: are a suspect's answers closer to a candidate teacher's than to unrelated models'?

Black-box: every model answered the same prompts (`distill detect attribution-collect`). On each prompt the
suspect's answer is compared with each candidate's and each reference's (cosine of character n-gram TF-IDF
vectors, or of MiniLM embeddings). For a candidate c with references r_1..r_R the statistic is

    T = mean over prompts of [ s(suspect, c) − mean_j s(suspect, r_j) ]

and under the null hypothesis — c is one more unrelated model, so on every prompt its similarity to the
suspect is exchangeable with the references' — relabelling which of the R + 1 models is "the candidate",
independently on every prompt, leaves the distribution of T unchanged. The p-value is the share of B random
relabellings (the observed one counted, so p ≥ 1/(B + 1)) whose T is at least the observed one. Holm's
step-down correction then controls the family-wise error over all candidates (valid for any dependence).

What it can show: that the suspect answers more like a candidate than like the references, beyond chance on
these prompts. What it cannot: *why* (a shared base model, shared training data, a shared system prompt or
style guide look the same as distillation), nor anything about models outside the references — the test is
only as good as the references are unrelated and comparable (same size class, same languages).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from distill.config import check, doc, settings, to_dict
from distill.detect.attribution.train import read_answers
from distill.files import write_results
from distill.results import Result

log = logging.getLogger(__name__)

SIMILARITIES = ("tfidf", "embedding")


@settings
class LineageConfig:
    """Settings of `distill detect lineage`."""

    answers: tuple[str, ...] = doc("answers JSONL file(s) from `distill detect attribution-collect` holding the "
                                   "suspect, the candidates and the references on the same prompts",
                                   flag="answers", default=(), required=True)
    suspect: str = doc("the suspect's source label", default="", required=True)
    candidates: tuple[str, ...] = doc("candidate teachers' source labels", default=(), required=True)
    references: tuple[str, ...] = doc("source labels of models known to be unrelated to the suspect (≥ 2)",
                                      default=(), required=True)
    similarity: str = doc("answer similarity: tfidf (character 2–5-gram cosine) or embedding (MiniLM cosine)",
                          default="tfidf", choices=SIMILARITIES)
    permutations: int = doc("random relabellings of the permutation test", default=9999, ge=99)
    alpha: float = doc("family-wise error level of the Holm-corrected verdicts", default=0.01, gt=0, lt=1)
    seed: int = doc("seed of the relabellings", default=0)
    out: str = doc("output folder: results.json, results.md", default="runs/lineage")

    def __post_init__(self):
        check(len(self.references) >= 2, "references", self.references, "at least 2 reference models")
        named = [self.suspect, *self.candidates, *self.references]
        check(len(set(named)) == len(named), "candidates", self.candidates,
              "labels distinct from each other, the suspect and the references")


def permutation_pvalue(S: np.ndarray, permutations: int, rng: np.random.Generator) -> tuple[float, float]:
    """The statistic and permutation p-value for one candidate.

    Args:
        S: (P, R + 1) similarities of the suspect's answer on each prompt to the candidate's (column 0) and the
            R references' (columns 1..R).
        permutations: number B of random relabellings.
        rng: the random generator.

    Returns:
        (T, p): the observed statistic (mean over prompts of column 0 minus the mean of the others) and
        (1 + #{T_b ≥ T}) / (B + 1).
    """
    P, R1 = S.shape
    R = R1 - 1
    total = S.sum(axis=1)  # (P,)

    def stat(chosen):  # chosen: (..., P) similarity of the model labelled "candidate" on each prompt
        return (chosen - (total - chosen) / R).mean(axis=-1)

    t_obs = float(stat(S[:, 0]))
    exceed, done = 0, 0
    while done < permutations:  # in blocks: (block, P) at a time
        b = min(4096, permutations - done)
        idx = rng.integers(0, R1, size=(b, P))
        t = stat(S[np.arange(P), idx])
        exceed += int((t >= t_obs - 1e-12).sum())  # ties count against the candidate
        done += b
    return t_obs, (1 + exceed) / (1 + permutations)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input order.

    Args:
        pvalues: raw p-values.

    Returns:
        Adjusted p-values: the k-th smallest is max over j ≤ k of (m − j + 1)·p_(j), capped at 1.
    """
    m = len(pvalues)
    order = np.argsort(pvalues, kind="stable")
    adj, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * pvalues[i])
        adj[i] = min(1.0, running)
    return adj


def similarity_matrix(texts_by_model: dict[str, list[str]], kind: str, embed=None) -> dict[str, np.ndarray]:
    """Unit vectors of every model's answers (one row per prompt), for cosine similarity.

    Args:
        texts_by_model: label → answers, all on the same prompts in the same order.
        kind: "tfidf" (char 2–5-gram TF-IDF fitted on all the answers) or "embedding".
        embed: the embedder for "embedding" (None: MiniLM).

    Returns:
        label → (P, d) array of L2-normalised rows.
    """
    labels = sorted(texts_by_model)
    flat = [t for k in labels for t in texts_by_model[k]]
    if kind == "tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer

        V = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True).fit_transform(flat)
        V = V.toarray()
    else:
        if embed is None:
            from distill.docs.quality import load_embedder

            embed = load_embedder()
        V = np.asarray(embed(flat), dtype=float)
    V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    n = len(texts_by_model[labels[0]])
    return {k: V[i * n:(i + 1) * n] for i, k in enumerate(labels)}


def compare_candidates(vectors: dict[str, np.ndarray], suspect: str, candidates, references, permutations: int,
                 seed: int) -> list[dict]:
    """Per candidate: mean similarities, the statistic, the raw and the Holm-adjusted p-value.

    Args:
        vectors: label → (P, d) unit vectors (rows aligned on prompts).
        suspect: the suspect's label.
        candidates: candidate labels.
        references: reference labels.
        permutations: relabellings per candidate.
        seed: seed of the relabellings (candidate i uses seed + i).

    Returns:
        One dict per candidate, in the given order.
    """
    s = vectors[suspect]
    sim = {k: (s * v).sum(axis=1) for k, v in vectors.items() if k != suspect}  # (P,) cosine per prompt
    refs = np.stack([sim[r] for r in references], axis=1)
    rows = []
    for i, c in enumerate(candidates):
        S = np.concatenate([sim[c][:, None], refs], axis=1)
        t, p = permutation_pvalue(S, permutations, np.random.default_rng(seed + i))
        rows.append({"candidate": c, "similarity_to_candidate": round(float(sim[c].mean()), 4),
                     "similarity_to_references": round(float(refs.mean()), 4), "statistic": round(t, 5),
                     "p_value": p})
    for r, a in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
        r["p_holm"] = a
    return rows


class LineageResult(Result):
    """What `distill detect lineage` returns (``results.json``): a p-value per candidate; summary ``results.md``."""

    suspect: str
    prompts: int
    candidates: list
    config: dict


def run(cfg: LineageConfig, *, embed=None) -> LineageResult:
    """Run the lineage test on the prompts every named model answered.

    Args:
        cfg: the settings.
        embed: the embedder to inject (tests).

    Returns:
        The results (also in ``out/results.json``).

    Raises:
        ValueError: a named model has no answers, or fewer than 5 prompts are shared by all.
    """
    t0 = time.time()
    rows = read_answers(cfg.answers)
    names = [cfg.suspect, *cfg.candidates, *cfg.references]
    by = {n: {} for n in names}
    for r in rows:
        if r["source"] in by:
            by[r["source"]][r.get("prompt_id") or r["group"]] = r["answer"]
    empty = [n for n in names if not by[n]]
    if empty:
        raise ValueError(f"no answers from {empty}; the answers hold {sorted({r['source'] for r in rows})}.")
    shared = sorted(set.intersection(*(set(v) for v in by.values())))
    if len(shared) < 5:
        raise ValueError(f"only {len(shared)} prompts were answered by every named model; need at least 5.")
    vectors = similarity_matrix({n: [by[n][p] for p in shared] for n in names}, cfg.similarity, embed)
    tests = compare_candidates(vectors, cfg.suspect, cfg.candidates, cfg.references, cfg.permutations, cfg.seed)
    for t in tests:
        t["flagged"] = t["p_holm"] < cfg.alpha
    res = {"suspect": cfg.suspect, "prompts": len(shared), "references": list(cfg.references), "candidates": tests,
           "smallest_possible_p": 1 / (cfg.permutations + 1), "seconds": round(time.time() - t0, 1),
           "config": to_dict(cfg)}
    res = LineageResult(res, report=markdown(res))
    write_results(Path(cfg.out), res)
    return res


def markdown(res: dict) -> str:
    """The lineage report, with what it can and cannot show.

    Args:
        res: :func:`run`'s result.

    Returns:
        Markdown text.
    """
    a = res["config"]["alpha"]
    lines = [f"# Lineage of {res['suspect']} ({res['prompts']} shared prompts, references: "
             f"{', '.join(res['references'])})", "",
             "| candidate | similarity to candidate | to references | p | p (Holm) | verdict |", "|---|---|---|---|---|---|"]
    for t in res["candidates"]:
        verdict = "closer than the references (investigate)" if t["flagged"] else "no evidence"
        lines.append(f"| {t['candidate']} | {t['similarity_to_candidate']:.3f} | {t['similarity_to_references']:.3f} "
                     f"| {t['p_value']:.4g} | {t['p_holm']:.4g} | {verdict} |")
    lines += ["", f"Verdicts at family-wise level {a} (Holm over {len(res['candidates'])} candidates; the smallest "
              f"possible p is {res['smallest_possible_p']:.1g}).", "",
              "What this can show: the suspect answers these prompts more like the candidate than like the "
              "references, beyond what relabelling chance gives. What it cannot: why — a shared base model, "
              "shared data, a shared system prompt or style guide look like distillation here — nor anything "
              "beyond these references: the test is only as sound as they are unrelated and comparable. "
              "Treat a flag as a reason to investigate, not as proof."]
    return "\n".join(lines) + "\n"
