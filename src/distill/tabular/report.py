"""The report of `distill tabular run`: a markdown table and a reliability diagram."""

from __future__ import annotations

from pathlib import Path

LABELS = {"teacher": "teacher", "student": "distilled student", "student_hard_labels": "student, hard labels only"}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def _gap(m: dict, key: str) -> str:
    v = m.get("fairness", {}).get(key)
    return "–" if v is None else f"{v:.3f}"


def _chosen(res: dict, key: str) -> str:
    """The value a run used: "0.5 (auto)" when it was chosen by inner cross-validation, else the setting."""
    given = res["config"][key]
    used = res.get(f"{key}_chosen")
    if used is None:
        return str(given)
    return f"{used:g} (auto)" if given == "auto" else f"{used:g}"


def markdown(res: dict) -> str:
    """The results as a markdown table plus a few sentences.

    Args:
        res: the results of :func:`distill.tabular.run.run` (models, config, rows, retention and
            speed-ups; teachers and the hard-label comparison when present).

    Returns:
        The markdown text, linking ``reliability.png``.
    """
    models = res["models"]
    cfg = res["config"]
    head = "| | " + " | ".join(LABELS[k] for k in models) + " |"
    lines = [f"# Tabular distillation: {res['dataset']}", "",
             f"Target: {res['positive']} · {res['rows']['train']} training / {res['rows']['test']} held-out rows · "
             f"{res['rows']['features']} columns ({res['rows']['encoded_features']} after encoding) · teacher "
             f"{'+'.join(cfg['teacher'])} · student {cfg['student']} (soft-label weight {_chosen(res, 'soft_weight')}, T {_chosen(res, 'temperature')}) "
             f"· {cfg['cv']}-fold out-of-fold teacher labels · seed {cfg['seed']}", "",
             head, "|---|" + "---|" * len(models)]
    rows = [("AUC", lambda m: f"{m['auc']:.4f}"), ("ECE", lambda m: f"{m['ece']:.4f}"),
            ("Brier", lambda m: f"{m['brier']:.4f}"),
            ("latency per row, batch 1", lambda m: _us(m["latency_s_batch1"])),
            ("latency per row, batch 1,024", lambda m: _us(m["latency_s_batch1024"])),
            ("model size (skops, without the encoder)", lambda m: f"{m['size_bytes']:,} B")]
    if "fairness" in models["teacher"]:
        rows += [("AUC gap across groups", lambda m: _gap(m, "auc_gap")),
                 ("TPR gap across groups (p ≥ 0.5)", lambda m: _gap(m, "tpr_gap"))]
    lines += [f"| {name} | " + " | ".join(f(m) for m in models.values()) + " |" for name, f in rows]
    lines += ["", f"AUC retention {res['auc_retention']:.1%} · speed-up {res['speedup_batch1']:.0f}× at batch 1, "
              f"{res['speedup_batch1024']:.0f}× at batch 1,024 (models on encoded rows; encoding one row takes "
              f"{_us(res['encoder_latency_s_batch1'])}, {res['speedup_batch1_with_encoding']:.1f}× including it) · "
              f"ECE change {res['ece_increase']:+.4f}. CPU latency: median of repeated calls on a machine that may "
              "be shared."]
    if "deployed" in res:
        d = res["deployed"]
        lines.append(f"\nDeployed (raw row → probability, batch 1, {d['path']}): {_us(d['latency_s_batch1_raw_row'])} "
                     f"per row, **{d['speedup_end_to_end']:.0f}×** the teacher end to end (largest difference from "
                     f"the saved pipeline {d['max_abs_diff']:.0e}).")
    if "student_file_bytes" in res:
        lines.append(f"\nSizes: student model {models['student']['size_bytes']:,} B; saved file student.skops "
                     f"(student + encoder, takes raw rows) {res['student_file_bytes']:,} B.")
    if "auc_gain_over_hard_labels" in res:
        gain = res["auc_gain_over_hard_labels"]
        verdict = ("distillation helped" if gain > 0.002 else
                   "distillation did not help on this split" if gain > -0.002 else "distillation hurt on this split")
        lines.append(f"\nDistilled vs hard-label student: AUC {gain:+.4f} ({verdict}).")
    if "teachers" in res:
        lines += ["", "| teacher | out-of-fold log loss | weight | held-out AUC |", "|---|---|---|---|"]
        lines += [f"| {t['name']} | {t['oof_log_loss']:.4f} | {t['weight']:.2f} | {t['test_auc']:.4f} |"
                  for t in res["teachers"]]
        lines.append(f"| combined ({cfg['combine']}) | | | {models['teacher']['auc']:.4f} |")
    lines += ["", "![reliability diagram](reliability.png)", ""]
    return "\n".join(lines)


def reliability_figure(res: dict):
    """Observed positive rate against mean predicted probability per bin, one line per model.

    Args:
        res: the results of :func:`distill.tabular.run.run`; reads each model's ``reliability`` and ``ece``.

    Returns:
        The matplotlib ``Figure``.
    """
    from matplotlib.figure import Figure

    from distill.plotting import legend_below, wrap

    # The legend sits below the square axes: inside them it covered the curves' upper-left corner.
    fig = Figure(figsize=(5, 6), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfectly calibrated")
    for key, m in res["models"].items():
        r = m["reliability"]
        ax.plot([b["mean_p"] for b in r], [b["rate"] for b in r], marker="o", ms=3,
                label=f"{LABELS[key]} (ECE {m['ece']:.3f})")
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", xlim=(0, 1), ylim=(0, 1))
    ax.set_title(wrap(f"Reliability: {res['dataset']}", 45))
    legend_below(ax)
    return fig


def reliability_plot(res: dict, path: Path) -> None:
    """Save :func:`reliability_figure` of ``res`` as a PNG (120 dpi).

    Args:
        res: the results of :func:`distill.tabular.run.run`.
        path: the image file to write.
    """
    reliability_figure(res).savefig(path, dpi=120)
