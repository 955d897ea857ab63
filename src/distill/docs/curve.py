"""`distill docs curve DATASET`: how much data does it take, for your own docs?

Trains the student on growing subsets of the training items (nested: each subset contains the smaller
ones, all drawn from one seeded shuffle) with the same number of epochs' worth of steps scaled to the
subset, evaluates each on the same held-out items, and plots quality against the number of examples.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
from pathlib import Path

from distill.config import check, doc, settings, to_dict
from distill.docs.evaluate import DocsEvalConfig, evaluate
from distill.docs.export import read_items
from distill.docs.train import DocsTrainConfig, train
from distill.files import write_results
from distill.results import Result

log = logging.getLogger(__name__)


@settings
class DocsCurveConfig:
    """Settings of `distill docs curve`."""

    dataset: str = doc("data set folder (WORKDIR/dataset)", default="", flag="dataset", required=True)
    sizes: tuple[int, ...] = doc("training-set sizes to try (capped at what the data set holds; "
                                 "the full set is always included)", default=(60, 250, 1000))
    epochs: float = doc("passes over each subset (steps = epochs × size / batch size, at least 1)", default=3.0, gt=0)
    out: str = doc("output folder", default="runs/docs/curve")
    seed: int = doc("seed of the subset draw", default=0)
    # Each point's data, step count and folders are set by the curve (from DATASET, --sizes, --epochs, --out),
    # so they are not options of the nested settings.
    train: DocsTrainConfig = doc("how each point's student is trained (as `distill docs train`)",
                                 default_factory=lambda: DocsTrainConfig(data="-"),
                                 fixed=("dataset", "data", "steps", "grad_accum", "out"))
    eval: DocsEvalConfig = doc("how each point is evaluated (as `distill docs eval`)",
                               default_factory=lambda: DocsEvalConfig(dataset="-", student="-", systems=("student",),
                                                                      compare_teacher=False, judge="none",
                                                                      judge_check=False),
                               fixed=("dataset", "student", "out"))

    def __post_init__(self):
        check(all(s >= 1 for s in self.sizes), "sizes", self.sizes, "positive integers")


class CurveResult(Result):
    """What `distill docs curve` returns: one point per training-set size."""

    dataset: str
    points: list
    config: dict

    def summary(self) -> str:
        return markdown(self)


def curve(cfg: DocsCurveConfig, *, judge=None) -> CurveResult:
    """`distill docs curve`: train a student on growing subsets of the training set and evaluate each.

    Args:
        cfg: the curve settings (data set, sizes, epochs, train and eval settings).
        judge: a judge to inject (tests; None: built from ``cfg.eval``).

    Returns:
        JSON-able results (also written to ``cfg.out``): ``dataset``, ``points`` (per size: ``examples``,
        ``steps``, ``train_seconds`` and the student's scores) and ``config``.

    Raises:
        ValueError: the data set's train.jsonl is empty.
    """
    ds = Path(cfg.dataset)
    items = read_items(ds, "train")
    if not items:
        raise ValueError(f"{ds}/train.jsonl is empty.")
    random.Random(cfg.seed).shuffle(items)
    sizes = sorted({min(s, len(items)) for s in cfg.sizes} | {len(items)})
    out = Path(cfg.out)
    points = []
    for n in sizes:
        d = out / f"n{n}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "train.jsonl").write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items[:n]))
        bs = min(cfg.train.batch_size, n)
        steps = max(1, math.ceil(cfg.epochs * n / bs))
        tcfg = dataclasses.replace(cfg.train, data=str(d / "train.jsonl"), dataset="", batch_size=bs,
                                   grad_accum=1, steps=steps, warmup=min(cfg.train.warmup, max(0, steps - 1)),
                                   out=str(d / "student"))
        log.info("curve: %d examples, %d steps", n, steps)
        t = train(tcfg)
        # each point scores its own student only (the untrained and teacher systems do not change with n)
        ecfg = dataclasses.replace(cfg.eval, dataset=str(ds), student=t["model"], out=str(d / "eval"),
                                   systems=("student",), compare_teacher=False)
        r = evaluate(ecfg, judge=judge)["results"]["student"]
        points.append({"examples": n, "steps": steps, "train_seconds": t["seconds"]}
                      | {k: r[k] for k in ("token_f1", "judge_score", "refusal_rate_unanswerable",
                                           "false_refusal_rate")})
    res = CurveResult(dataset=str(ds), points=points, config=to_dict(cfg))
    out.mkdir(parents=True, exist_ok=True)
    write_results(out, res, markdown)
    _plot(points, out / "curve.png")
    return res


def markdown(res: dict) -> str:
    """The Markdown table of a `curve` result.

    Args:
        res: a `curve` result.

    Returns:
        Markdown text.
    """
    lines = ["| examples | steps | token F1 | judge | refuses unanswerable | false refusals |",
             "|---:|---:|---:|---:|---:|---:|"]
    for p in res["points"]:
        f = [p.get(k) for k in ("token_f1", "judge_score", "refusal_rate_unanswerable", "false_refusal_rate")]
        lines.append(f"| {p['examples']} | {p['steps']} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in f) + " |")
    return "\n".join(lines) + "\n"


def figure(points):
    """Student quality (token F1, judge score, refusals of unanswerable questions) against training examples.

    Args:
        points: the ``points`` of a `curve` result.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    from distill.plotting import legend_below

    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.subplots()
    xs = [p["examples"] for p in points]
    for key, label in (("token_f1", "token F1"), ("judge_score", "judge score"),
                       ("refusal_rate_unanswerable", "refuses unanswerable")):
        ys = [p.get(key) for p in points]
        if any(y is not None for y in ys):
            ax.plot(xs, [y if y is not None else float("nan") for y in ys], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("training examples")
    ax.set_ylim(0, 1.05)  # room for the markers of a score of 1
    ax.set_title("student quality vs data")
    legend_below(ax, columns=3)  # inside the axes it covered points near 0 or 1
    return fig


def _plot(points, path):
    figure(points).savefig(path, dpi=110)
