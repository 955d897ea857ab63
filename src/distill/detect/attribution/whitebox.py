"""`distill detect lineage-white-box`: teacher-forced agreement of an open-weight suspect with candidate teachers.

Every model (the suspect, each candidate, each reference known to be unrelated) shares one tokenizer. Each
candidate and each reference generates its OWN continuation of every prompt; the suspect is then run
teacher-forced on that continuation, and on the generated tokens we measure

    KL(m ‖ suspect) per token (mean over the generated tokens of one prompt) and
    top-1 agreement (share of generated positions where the suspect's argmax equals m's argmax).

A student distilled from m has been trained to match exactly these distributions, so its KL to m on m's own
text is small and its agreement high, compared with models that never taught it.

The p-value per candidate (``--test``):

- ``reference-t`` (default): the model-level statistic T_m (mean over prompts of −KL, or of top-1 agreement)
  of the R references is treated as a sample from the population of unrelated models; under the null that the
  candidate is one more draw from it (and that T is normal across such models), (T_c − mean_R) /
  (sd_R · √(1 + 1/R)) follows Student's t with R − 1 degrees of freedom exactly (a prediction interval); the
  one-sided tail is the p-value. It accounts for model-to-model variation, which is what an unrelated model is.
- ``relabel``: the per-prompt relabelling test of the black-box mode (:func:`lineage.permutation_pvalue`):
  exact only if, on every prompt independently, the candidate is exchangeable with the references. With many
  prompts it also flags any model-level difference (a more confident or better-trained unrelated model), so it
  is anti-conservative when references differ from the candidate in kind; reported for comparison.

Holm's correction runs over the candidates. What it can show: the suspect's next-token distributions sit closer
to the candidate's than unrelated models' do, beyond the references' spread. What it cannot: why (a shared base
model or shared training data look the same as distillation), nor anything beyond the references chosen —
only as good as they are unrelated and comparable (same size class, same data kind).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from distill.config import check, doc, settings, to_dict
from distill.detect.attribution.collect import parse_source
from distill.detect.attribution.lineage import holm, permutation_pvalue
from distill.files import write_results
from distill.results import Result

log = logging.getLogger(__name__)

TESTS = ("reference-t", "relabel")
STATISTICS = ("kl", "top1")


@settings
class WhiteBoxLineageConfig:
    """Settings of `distill detect lineage-white-box`."""

    suspect: str = doc("the suspect: a Hugging Face model folder (LABEL=PATH or PATH)", default="", required=True)
    candidates: tuple[str, ...] = doc("candidate teachers: HF folders sharing the suspect's tokenizer (LABEL=PATH)",
                                      default=(), required=True)
    references: tuple[str, ...] = doc("HF folders of models known to be unrelated to the suspect (≥ 3), same "
                                      "tokenizer", default=(), required=True)
    prompts: str = doc("prompts JSONL (text, optional id); default: the shipped attribution prompt set", default="")
    groups: int = doc("use at most this many prompt groups of the shipped set (0: all)", default=40, ge=0)
    max_new_tokens: int = doc("tokens each candidate/reference generates per prompt", default=32, ge=1)
    temperature: float = doc("sampling temperature of those generations (0: greedy)", default=1.0, ge=0)
    statistic: str = doc("the statistic tested: kl (−KL(model ‖ suspect)) or top1 (argmax agreement)",
                         default="kl", choices=STATISTICS)
    test: str = doc("the p-value: reference-t (t prediction interval over the references' model-level statistics) "
                    "or relabel (per-prompt relabelling, as the black-box mode)", default="reference-t",
                    choices=TESTS)
    permutations: int = doc("random relabellings of the relabel test", default=9999, ge=99)
    alpha: float = doc("family-wise error level of the Holm-corrected verdicts", default=0.01, gt=0, lt=1)
    batch: int = doc("sequences per forward pass", default=16, ge=1)
    seed: int = doc("seed of the generations and relabellings", default=0)
    out: str = doc("output folder: results.json, results.md", default="runs/lineage-white-box")

    def __post_init__(self):
        check(len(self.references) >= 3, "references", self.references, "at least 3 reference models")


def generate_own(model, prompts: list[list[int]], max_new_tokens: int, temperature: float, seed: int,
                 batch: int = 16, eos_token_id: int | None = None, cache: bool = True) -> list[list[int]]:
    """Each prompt's continuation sampled from ``model`` (prompts of one length share a batch: no padding).

    With ``cache`` (the default) the prompt is run once and every new token reuses the key/value cache (the
    engine's ``_cache_keyword`` handling of :mod:`distill.teachers.hf`); without it the whole sequence is run
    again per token. Both draw the same random numbers in the same order, so they give the same tokens (up to
    float round-off in the logits; greedy decoding is identical).

    Args:
        model: a causal LM (Hugging Face interface: ``model(input_ids).logits``).
        prompts: token ids per prompt.
        max_new_tokens: tokens to generate.
        temperature: sampling temperature (0: greedy).
        seed: the sampling seed (each batch reseeded from it).
        batch: prompts per forward pass.
        eos_token_id: stop a row at this token (kept; later tokens dropped); None: never.
        cache: reuse the KV cache between steps.

    Returns:
        The generated ids per prompt, in the input order.
    """
    from distill.teachers.hf import _cache_keyword

    key = _cache_keyword(model) if cache else None
    out: list[list[int] | None] = [None] * len(prompts)
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    for n in sorted(by_len):
        idx = by_len[n]
        for b in range(0, len(idx), batch):
            rows = idx[b:b + batch]
            g = torch.Generator().manual_seed(seed * 1_000_003 + n * 1009 + b)
            x = torch.tensor([prompts[i] for i in rows], dtype=torch.long)
            step_in, past = x, None
            with torch.inference_mode():
                for _ in range(max_new_tokens):
                    if key is None:
                        logits = model(input_ids=x).logits[:, -1].float()
                    else:
                        o = model(input_ids=step_in, **{key: past}, use_cache=True)
                        past, logits = getattr(o, key), o.logits[:, -1].float()
                    if temperature == 0:
                        nxt = logits.argmax(-1, keepdim=True)
                    else:
                        nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=g)
                    x, step_in = torch.cat([x, nxt], 1), nxt
            for r, i in enumerate(rows):
                gen = x[r, n:].tolist()
                if eos_token_id is not None and eos_token_id in gen:
                    gen = gen[:gen.index(eos_token_id) + 1]
                out[i] = gen
    return out  # type: ignore[return-value]


def teacher_forced(suspect, model, prompts: list[list[int]], generations: list[list[int]],
                   batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Per prompt: mean KL(model ‖ suspect) and top-1 agreement over the positions predicting ``generations``.

    Args:
        suspect: the suspect causal LM.
        model: the candidate or reference whose generations these are.
        prompts: (P) prompt ids.
        generations: (P) the model's own continuation ids (empty ones score NaN).
        batch: sequences per forward pass (right-padded; causal, so padding never changes a real position).

    Returns:
        (kl, top1): two (P,) float arrays.
    """
    P = len(prompts)
    kl, top1 = np.full(P, np.nan), np.full(P, np.nan)
    for b in range(0, P, batch):
        rows = [i for i in range(b, min(P, b + batch)) if generations[i]]
        if not rows:
            continue
        seqs = [prompts[i] + generations[i] for i in rows]
        L = max(map(len, seqs))
        x = torch.tensor([s + [0] * (L - len(s)) for s in seqs], dtype=torch.long)
        with torch.inference_mode():
            lm = model(input_ids=x).logits.float().log_softmax(-1)
            ls = suspect(input_ids=x).logits.float().log_softmax(-1)
        for r, i in enumerate(rows):
            a, z = len(prompts[i]) - 1, len(prompts[i]) + len(generations[i]) - 1  # positions predicting gen
            pm, ps = lm[r, a:z], ls[r, a:z]  # (n, V)
            kl[i] = float((pm.exp() * (pm - ps)).sum(-1).mean())
            top1[i] = float((pm.argmax(-1) == ps.argmax(-1)).float().mean())
    return kl, top1


def reference_t_pvalue(t_candidate: float, t_references: np.ndarray) -> float:
    """One-sided p-value of a candidate's model-level statistic against the references' (t prediction interval).

    Args:
        t_candidate: the candidate's statistic (higher: closer to the suspect).
        t_references: (R,) the references' statistics, R ≥ 2.

    Returns:
        P(t_{R−1} ≥ (T_c − mean) / (sd · √(1 + 1/R))); exact when the statistics of unrelated models are iid normal.
    """
    from scipy import stats

    r = np.asarray(t_references, dtype=float)
    R = len(r)
    sd = float(r.std(ddof=1))
    if sd == 0:
        return 0.0 if t_candidate > r.mean() else 1.0
    return float(stats.t.sf((t_candidate - r.mean()) / (sd * np.sqrt(1 + 1 / R)), R - 1))


def score(suspect, candidates: dict, references: dict, prompts: list[list[int]], *, max_new_tokens: int = 32,
          temperature: float = 1.0, statistic: str = "kl", test: str = "reference-t", permutations: int = 9999,
          seed: int = 0, batch: int = 16, eos_token_id: int | None = None) -> list[dict]:
    """Generate with every candidate and reference, score the suspect teacher-forced, test each candidate.

    Args:
        suspect: the suspect LM.
        candidates: label → candidate LM.
        references: label → reference LM (≥ 2; ≥ 3 for a useful t test).
        prompts: prompt ids.
        max_new_tokens: tokens generated per prompt.
        temperature: sampling temperature.
        statistic: "kl" or "top1".
        test: "reference-t" or "relabel".
        permutations: relabellings (relabel test).
        seed: seed of generations (model k uses seed + k) and relabellings.
        batch: sequences per forward pass.
        eos_token_id: the end-of-sequence token (None: none).

    Returns:
        One dict per candidate: mean KL and top-1 of the candidate and of the references, the statistic, p, p (Holm).
    """
    per = {}
    for k, (label, m) in enumerate(sorted({**candidates, **references}.items())):
        gen = generate_own(m, prompts, max_new_tokens, temperature, seed + k, batch, eos_token_id)
        per[label] = teacher_forced(suspect, m, prompts, gen, batch)
    ok = np.all([np.isfinite(v[0]) for v in per.values()], axis=0)  # prompts every model generated on
    col = {lab: (-v[0] if statistic == "kl" else v[1])[ok] for lab, v in per.items()}
    refs = list(references)
    rows = []
    for i, c in enumerate(candidates):
        t_refs = np.array([col[r].mean() for r in refs])
        if test == "reference-t":
            p = reference_t_pvalue(float(col[c].mean()), t_refs)
        else:
            S = np.column_stack([col[c]] + [col[r] for r in refs])
            p = permutation_pvalue(S, permutations, np.random.default_rng(seed + i))[1]
        rows.append({"candidate": c, "kl_candidate": round(float(per[c][0][ok].mean()), 5),
                     "kl_references": round(float(np.mean([per[r][0][ok].mean() for r in refs])), 5),
                     "top1_candidate": round(float(per[c][1][ok].mean()), 4),
                     "top1_references": round(float(np.mean([per[r][1][ok].mean() for r in refs])), 4),
                     "statistic": round(float(col[c].mean()), 5),
                     "references_statistic": [round(float(v), 5) for v in t_refs], "p_value": p,
                     "prompts": int(ok.sum())})
    for r, a in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
        r["p_holm"] = a
    return rows


class WhiteBoxResult(Result):
    """What `distill detect lineage-white-box` returns (``results.json``); its summary is ``results.md``."""

    suspect: str
    candidates: list
    config: dict


def _load(spec: str):
    from distill.lm.models import load_model, load_tokenizer

    label, path = parse_source(spec)  # open weights: an HF folder or an embedded model (its refusal names both)
    return label, load_model(path), load_tokenizer(path)


def run(cfg: WhiteBoxLineageConfig) -> WhiteBoxResult:
    """Load the models, check they share a tokenizer, score and test every candidate, write the report.

    Args:
        cfg: the settings.

    Returns:
        The results (also in ``out/results.json``).

    Raises:
        ValueError: a model's tokenizer vocabulary differs from the suspect's.
    """
    from distill.detect.attribution.prompts import load_prompts

    t0 = time.time()
    torch.manual_seed(cfg.seed)
    s_label, suspect, tok = _load(cfg.suspect)
    vocab = tok.get_vocab()
    models = {}
    for spec in (*cfg.candidates, *cfg.references):
        label, m, t = _load(spec)
        if t.get_vocab() != vocab:
            raise ValueError(f"{spec}: its tokenizer differs from the suspect's; white-box lineage compares "
                             "next-token distributions, so every model must share one tokenizer (use the black-box "
                             "`distill detect lineage`).")
        models[label] = m
    cands = {parse_source(s)[0]: models[parse_source(s)[0]] for s in cfg.candidates}
    refs = {parse_source(s)[0]: models[parse_source(s)[0]] for s in cfg.references}
    texts = [p.text for p in load_prompts(cfg.prompts or None, (), cfg.groups)]
    if getattr(tok, "chat_template", None):
        ids = [tok.apply_chat_template([{"role": "user", "content": t}], add_generation_prompt=True) for t in texts]
    else:
        ids = [tok(t)["input_ids"] for t in texts]
    rows = score(suspect, cands, refs, ids, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                 statistic=cfg.statistic, test=cfg.test, permutations=cfg.permutations, seed=cfg.seed,
                 batch=cfg.batch, eos_token_id=tok.eos_token_id)
    for r in rows:
        r["flagged"] = r["p_holm"] < cfg.alpha
    res = {"suspect": s_label, "prompts": len(ids), "references": list(refs), "candidates": rows,
           "seconds": round(time.time() - t0, 1), "config": to_dict(cfg)}
    res = WhiteBoxResult(res, report=markdown(res))
    write_results(Path(cfg.out), res)
    return res


def markdown(res: dict) -> str:
    """The white-box lineage report, with what it can and cannot show.

    Args:
        res: :func:`run`'s result.

    Returns:
        Markdown text.
    """
    c = res["config"]
    lines = [f"# White-box lineage of {res['suspect']} ({res['prompts']} prompts, references: "
             f"{', '.join(res['references'])}; {c['statistic']}, {c['test']} test)", "",
             "| candidate | KL(candidate ‖ suspect) | KL(reference ‖ suspect) | top-1 candidate | top-1 references "
             "| p | p (Holm) | verdict |", "|---|---|---|---|---|---|---|---|"]
    for t in res["candidates"]:
        verdict = "closer than the references (investigate)" if t["flagged"] else "no evidence"
        lines.append(f"| {t['candidate']} | {t['kl_candidate']:.4f} | {t['kl_references']:.4f} | "
                     f"{t['top1_candidate']:.3f} | {t['top1_references']:.3f} | {t['p_value']:.3g} | "
                     f"{t['p_holm']:.3g} | {verdict} |")
    lines += ["", f"Verdicts at family-wise level {c['alpha']} (Holm over {len(res['candidates'])} candidates). "
              "KL and top-1 are measured teacher-forced on each model's own generations.", "",
              "What this can show: the suspect's next-token distributions are closer to the candidate's than "
              "unrelated models' are, beyond the references' spread. What it cannot: why — a shared base model or "
              "shared training data look like distillation — nor anything beyond these references. Treat a flag "
              "as a reason to investigate, not as proof."]
    return "\n".join(lines) + "\n"
