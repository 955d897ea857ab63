"""`distill detect attribution-train ANSWERS`: which source wrote each answer — classifiers, accuracy, open set.

Every figure is out of fold over prompt groups (no prompt, nor its translation, in both train and test).
The saved classifiers are then fitted on all in-set answers. Sources named in ``--held-out-sources`` are never
trained on: their answers measure how often a text from outside the N is forced onto one of them.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from distill.config import check, doc, settings, to_dict
from distill.detect.attribution import classify as C
from distill.detect.attribution import model as M
from distill.files import write_results
from distill.results import Result
from distill.stats import wilson

log = logging.getLogger(__name__)


@settings
class AttributionTrainConfig:
    """Settings of `distill detect attribution-train`."""

    answers: tuple[str, ...] = doc("answers JSONL file(s) from `distill detect attribution-collect` (fields source, "
                                   "group or prompt_id, lang, answer)", flag="answers", default=(), required=True)
    out: str = doc("output folder: results.json, results.md, confusion_<kind>.png, <kind>.skops, attribution.json",
                   default="runs/attribution/model")
    classifiers: tuple[str, ...] = doc("classifiers to train: tfidf (word + char n-grams, logistic regression) and/or "
                                       "embedding (MiniLM + linear head; needs the docs extra)",
                                       default=C.KINDS)
    held_out_sources: tuple[str, ...] = doc("sources never trained on: their answers measure the open-set rule "
                                            "(how often a text from outside the N is forced onto one of them)",
                                            default=())
    folds: int = doc("GroupKFold folds over prompt groups", default=5, ge=2)
    target_loss: float = doc("in-set accuracy the 'none of these' threshold may cost (fraction of in-set texts)",
                             default=0.05, ge=0, lt=1)
    seed: int = doc("random state of the classifiers", default=0)

    def __post_init__(self):
        check(bool(self.classifiers) and set(self.classifiers) <= set(C.KINDS), "classifiers", self.classifiers,
              f"a non-empty subset of {list(C.KINDS)}")


def read_answers(paths) -> list[dict]:
    """Answer rows from JSONL files; rows with an empty answer are dropped.

    Args:
        paths: JSONL files.

    Returns:
        The rows, each with ``source``, ``group``, ``lang`` and ``answer`` (group falls back to prompt_id).

    Raises:
        ValueError: a row without source or answer fields.
    """
    rows = []
    for path in paths:
        for i, line in enumerate(Path(path).read_text("utf-8").split("\n"), 1):
            if not line.strip():
                continue
            r = json.loads(line)
            if "source" not in r or "answer" not in r:
                raise ValueError(f"{path} line {i}: an answer row needs 'source' and 'answer' fields.")
            if not str(r["answer"]).strip():
                continue
            rows.append(r | {"group": str(r.get("group") or r.get("prompt_id") or f"{path}:{i}"),
                             "lang": str(r.get("lang") or "?")})
    return rows


def accuracy(k: int, n: int) -> dict:
    """A proportion with its 95% Wilson interval.

    Args:
        k: successes.
        n: trials.

    Returns:
        ``{"n", "k", "rate", "ci95"}``.
    """
    lo, hi = wilson(k, n)
    return {"n": n, "k": k, "rate": round(k / n, 4) if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


def evaluate(kind: str, X, y: np.ndarray, groups: np.ndarray, langs: np.ndarray, X_out, y_out: np.ndarray,
             cfg: AttributionTrainConfig) -> tuple[dict, object, M.Card]:
    """Out-of-fold accuracy, per language, confusion, open-set threshold; then the final fit on all rows.

    Args:
        kind: "tfidf" or "embedding".
        X: in-set inputs (strings or embeddings).
        y: (N,) in-set sources.
        groups: (N,) prompt groups.
        langs: (N,) languages.
        X_out: inputs of the held-out sources (may be empty).
        y_out: their sources.
        cfg: the settings.

    Returns:
        (report, fitted estimator, card).
    """
    proba, classes = C.out_of_fold(kind, X, y, groups, cfg.folds, cfg.seed)
    pred = classes[proba.argmax(axis=1)]
    ok = pred == y
    thr = C.open_set_threshold(proba, y, classes, cfg.target_loss)
    kept = C.decide(proba, classes, thr) == y
    confusion = [[int(((y == a) & (pred == b)).sum()) for b in classes] for a in classes]
    rep = {
        "accuracy": accuracy(int(ok.sum()), len(y)),
        "per_language": {g: accuracy(int(ok[langs == g].sum()), int((langs == g).sum())) for g in sorted(set(langs))},
        "per_source_recall": {c: accuracy(int(ok[y == c].sum()), int((y == c).sum())) for c in classes},
        "classes": classes.tolist(), "confusion": confusion,
        "open_set": {"threshold": round(thr, 6), "target_loss": cfg.target_loss,
                     "in_set_accuracy_with_rule": accuracy(int(kept.sum()), len(y)),
                     "in_set_rejected": accuracy(int((C.decide(proba, classes, thr) == C.NONE).sum()), len(y))},
    }
    est = C.make(kind, cfg.seed).fit(X, y)
    if len(y_out):
        p_out = est.predict_proba(X_out)
        forced = p_out.max(axis=1) >= thr
        rep["open_set"]["held_out_forced"] = accuracy(int(forced.sum()), len(y_out))
        rep["open_set"]["held_out_forced_by_source"] = {
            s: accuracy(int(forced[y_out == s].sum()), int((y_out == s).sum())) for s in sorted(set(y_out))}
        rep["open_set"]["held_out_forced_onto"] = {
            c: int(((classes[p_out.argmax(axis=1)] == c) & forced).sum()) for c in classes}
    return rep, est, M.Card(kind, classes.tolist(), thr, cfg.target_loss,
                            "all-MiniLM-L6-v2" if kind == "embedding" else "")


def confusion_png(path: Path, rep: dict, title: str) -> None:
    """The confusion matrix (rows: true source, columns: predicted), counts written in the cells.

    Args:
        path: the PNG to write.
        rep: an :func:`evaluate` report.
        title: the figure's title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distill.plotting import wrap

    fig = confusion_figure(rep, title, plt, wrap)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def confusion_figure(rep: dict, title: str, plt=None, wrap=None):
    """The confusion matrix figure (for :func:`confusion_png` and tests).

    Args:
        rep: an :func:`evaluate` report.
        title: the figure's title.
        plt: matplotlib.pyplot (imported when None).
        wrap: the title wrapper (distill.plotting.wrap when None).

    Returns:
        The matplotlib figure, drawn.
    """
    if plt is None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    if wrap is None:
        from distill.plotting import wrap
    m = np.array(rep["confusion"])
    labels = rep["classes"]
    size = 2.5 + 0.6 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size), layout="constrained")
    ax.imshow(m, cmap="Blues")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted source")
    ax.set_ylabel("true source")
    ax.set_title(wrap(title, int(12 * size)), fontsize=9)
    fig.canvas.draw()
    return fig


class AttributionResult(Result):
    """What `distill detect attribution-train` returns (``results.json``); its summary is ``results.md``."""

    classifiers: dict
    seconds: float


def train(cfg: AttributionTrainConfig, *, embed=None) -> AttributionResult:
    """Evaluate and fit every requested classifier; write the report, confusion PNGs and the saved models.

    Args:
        cfg: the settings.
        embed: a text → embedding function to inject (tests; None: MiniLM when the embedding kind is asked).

    Returns:
        The results (also in ``out/results.json``).

    Raises:
        ValueError: fewer than 2 in-set sources, or a held-out source that is not in the answers.
    """
    t0 = time.time()
    rows = read_answers(cfg.answers)
    sources = sorted({r["source"] for r in rows})
    missing = sorted(set(cfg.held_out_sources) - set(sources))
    if missing:
        raise ValueError(f"held-out source(s) {missing} have no answers; the answers hold {sources}.")
    ins = [r for r in rows if r["source"] not in cfg.held_out_sources]
    outs = [r for r in rows if r["source"] in cfg.held_out_sources]
    y, groups = np.array([r["source"] for r in ins]), np.array([r["group"] for r in ins])
    langs, y_out = np.array([r["lang"] for r in ins]), np.array([r["source"] for r in outs])
    texts, texts_out = [r["answer"] for r in ins], [r["answer"] for r in outs]
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"answers": len(rows), "in_set": len(ins), "held_out": len(outs), "sources": sorted(set(y.tolist())),
           "held_out_sources": sorted(set(y_out.tolist())), "prompt_groups": len(set(groups.tolist())),
           "classifiers": {}, "skipped": {}, "config": to_dict(cfg)}
    for kind in cfg.classifiers:
        X, X_out = texts, texts_out
        if kind == "embedding":
            if embed is None:
                try:
                    from distill.docs.quality import load_embedder

                    embed = load_embedder()
                except ModuleNotFoundError as e:
                    res["skipped"]["embedding"] = (f"the Python package {e.name!r} is not installed "
                                                   "(pip install 'distill[docs]')")
                    log.warning("embedding classifier skipped: %s", res["skipped"]["embedding"])
                    continue
            X, X_out = np.asarray(embed(texts)), np.asarray(embed(texts_out)) if texts_out else np.zeros((0, 1))
        rep, est, card = evaluate(kind, X, y, groups, langs, X_out, y_out, cfg)
        M.save(out, est, card)
        confusion_png(out / f"confusion_{kind}.png", rep,
                      f"{kind}: {rep['accuracy']['rate']:.1%} of {len(y)} answers, out of fold by prompt")
        res["classifiers"][kind] = rep
        log.info("%s: out-of-fold accuracy %.3f on %d answers", kind, rep["accuracy"]["rate"], len(y))
    res["seconds"] = round(time.time() - t0, 1)
    res = AttributionResult(res, report=markdown(res))
    write_results(out, res)
    return res


def _pct(a: dict) -> str:
    return "–" if a["rate"] is None else f"{a['rate']:.1%} [{a['ci95'][0]:.1%}, {a['ci95'][1]:.1%}] (n={a['n']})"


def markdown(res: dict) -> str:
    """The report of :func:`train`.

    Args:
        res: its results.

    Returns:
        Markdown text.
    """
    lines = [f"# Attribution: {len(res['sources'])} sources, {res['in_set']} answers, "
             f"{res['prompt_groups']} prompt groups", "",
             "Out of fold over prompt groups (no prompt or its translation in both train and test); 95% Wilson "
             "intervals.", "", "| classifier | N-way accuracy | " + " | ".join(
                 sorted({g for r in res["classifiers"].values() for g in r["per_language"]})) + " |"]
    langs = sorted({g for r in res["classifiers"].values() for g in r["per_language"]})
    lines.append("|---|---|" + "---|" * len(langs))
    for kind, r in res["classifiers"].items():
        lines.append(f"| {kind} | {_pct(r['accuracy'])} | "
                     + " | ".join(_pct(r["per_language"][g]) if g in r["per_language"] else "–" for g in langs) + " |")
    lines += ["", "## Open set ('none of these')", "",
              "| classifier | threshold | in-set accuracy with the rule | in-set rejected | held-out texts forced onto a source |",
              "|---|---|---|---|---|"]
    for kind, r in res["classifiers"].items():
        o = r["open_set"]
        lines.append(f"| {kind} | {o['threshold']:.3f} | {_pct(o['in_set_accuracy_with_rule'])} | "
                     f"{_pct(o['in_set_rejected'])} | {_pct(o['held_out_forced']) if 'held_out_forced' in o else '– (no held-out source)'} |")
    for kind, why in res["skipped"].items():
        lines += ["", f"{kind} classifier skipped: {why}."]
    return "\n".join(lines) + "\n"
