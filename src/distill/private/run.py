"""`distill private run`: PATE on digits, Fashion-MNIST / MNIST IDX files or a bundled tabular set; accuracy vs ε."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from distill.config import check, doc, settings, to_dict
from distill.files import write_results
from distill.registry import Described, Registry
from distill.results import Result

log = logging.getLogger(__name__)
IMAGE_SETS = ("digits", "fashion-mnist", "idx")


def _logistic(seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=1000)


def _mlp(seed: int):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-3, max_iter=300, early_stopping=True, random_state=seed)


def _rf(seed: int):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, min_samples_leaf=1, random_state=seed)


# The one list of teacher and student models of `distill private run` (--teacher, --student).
MODELS: Registry[Callable[[int], object]] = Registry("PATE model", {
    "logistic": Described(_logistic, "logistic regression (C = 1)"),
    "mlp": Described(_mlp, "MLP, 128 hidden units, early stopping"),
    "rf": Described(_rf, "random forest, 100 trees"),
}, where=("private run --teacher", "private run --student"))


@settings
class PrivateRunConfig:
    """Settings of `distill private run`."""

    dataset: str = doc("digits (scikit-learn, 1,797 8×8 images), fashion-mnist, idx (MNIST-format files in "
                       "--data-dir), or a bundled tabular set (distill.tabular.DATASETS)", default="digits")
    data_dir: str = doc("folder of the four MNIST-format IDX files (with --dataset idx)", default="")
    private_rows: int = doc("use only this many private rows (0: all; a reduced run on a slow machine)",
                            default=0, ge=0)
    teacher: str = doc("teacher model (`distill list private-models`)", default="logistic", choices=MODELS.names())
    student: str = doc("student model (`distill list private-models`)", default="logistic", choices=MODELS.names())
    teachers: int = doc("teachers (disjoint partitions of the private rows)", default=20, ge=1)
    aggregator: Literal["gnmax", "confident"] = doc("noisy aggregation: gnmax or confident (Confident-GNMax)",
                                                    default="confident")
    epsilon: tuple[float, ...] = doc("privacy budgets to train a student at (one per value)", default=(1.0, 2.0, 4.0, 8.0))
    accounting: Literal["independent", "dependent"] = doc(
        "what --epsilon bounds: independent (dp-accounting's RDP accountant, every query counted as answered: "
        "the guarantee) or dependent (the paper's data-dependent bound on the answers given; not sanitized)",
        default="dependent")
    delta: float = doc("δ of the (ε, δ) guarantee", default=1e-5, gt=0, lt=1)
    threshold: float = doc("Confident-GNMax threshold, as a share of the teachers", default=0.6, ge=0, le=1)
    sigma1_ratio: float = doc("Confident-GNMax threshold noise σ₁ over the answer noise σ₂", default=2.0, gt=0)
    queries: int = doc("public rows the teachers are asked about (0: all)", default=200, ge=0)
    seed: int = doc("random seed (splits, partitions, noise)", default=0)
    out: str = doc("output folder: results.json, results.md", default="runs/private")

    def __post_init__(self):
        from distill.tabular.datasets import DATASETS

        check(self.dataset in IMAGE_SETS or self.dataset in DATASETS, "dataset", self.dataset,
              f"one of {list(IMAGE_SETS) + sorted(DATASETS)}")
        check(self.dataset != "idx" or bool(self.data_dir), "data_dir", self.data_dir, "a folder, with --dataset idx")
        check(len(self.epsilon) >= 1 and all(e > 0 for e in self.epsilon), "epsilon", self.epsilon,
              "one or more numbers > 0")


def load(cfg: PrivateRunConfig) -> dict:
    """The private, public and test rows of the configured data set (features as float arrays).

    Digits and tabular sets: stratified 60/20/20 (private / public / test). Fashion-MNIST and IDX files:
    the training split is private; of the test split the first 9,000 rows are public and the last
    1,000 the test rows (the papers' MNIST protocol).

    Args:
        cfg: the run's settings.

    Returns:
        {"name", "X_private", "y_private", "X_public", "y_public" (for scoring the labels only),
        "X_test", "y_test", "binary"}.
    """
    from sklearn.model_selection import train_test_split

    if cfg.dataset in ("fashion-mnist", "idx"):
        from distill.data.idx import load_idx_dataset

        train, test, name = load_idx_dataset(cfg.data_dir or None)
        Xp, yp = train.images.reshape(len(train.labels), -1).numpy(), train.labels.numpy()
        Xt, yt = test.images.reshape(len(test.labels), -1).numpy(), test.labels.numpy()
        split = dict(X_private=Xp, y_private=yp, X_public=Xt[:9000], y_public=yt[:9000], X_test=Xt[9000:],
                     y_test=yt[9000:])
    else:
        if cfg.dataset == "digits":
            from sklearn.datasets import load_digits

            X, y = load_digits(return_X_y=True)
            X, name, enc = X / 16.0, "digits", None
        else:
            from distill.tabular.datasets import load_dataset, make_encoder

            d = load_dataset(cfg.dataset)
            X, y, name, enc = d.X, d.y, d.name, make_encoder
        idx = np.arange(len(y))
        pr, rest = train_test_split(idx, test_size=0.4, stratify=y, random_state=cfg.seed)
        pu, te = train_test_split(rest, test_size=0.5, stratify=y[rest], random_state=cfg.seed)
        if enc is not None:  # the encoder is fitted on the private rows; it is part of the student
            e = enc(X.iloc[pr]).fit(X.iloc[pr])
            parts = {k: e.transform(X.iloc[v]) for k, v in (("private", pr), ("public", pu), ("test", te))}
        else:
            parts = {k: X[v] for k, v in (("private", pr), ("public", pu), ("test", te))}
        split = {f"X_{k}": v for k, v in parts.items()} | {"y_private": y[pr], "y_public": y[pu], "y_test": y[te]}
    if cfg.private_rows and cfg.private_rows < len(split["y_private"]):
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(split["y_private"]))[:cfg.private_rows])
        split["X_private"], split["y_private"] = split["X_private"][keep], split["y_private"][keep]
    split["name"] = name
    split["binary"] = len(np.unique(split["y_private"])) == 2
    return split


def _scores(model, X, y, binary: bool) -> dict:
    """Accuracy (and AUC for two classes) of ``model`` on ``X``, ``y``."""
    out = {"accuracy": float((model.predict(X) == y).mean())}
    if binary:
        from distill.tabular.metrics import auc

        out["auc"] = auc(y, model.predict_proba(X)[:, 1])
    return out


class PrivateResult(Result):
    """What `distill private run` returns (``results.json``); its summary is ``results.md``."""

    dataset: str
    curve: list
    non_private_student: dict
    seconds: float
    config: dict


def run(cfg: PrivateRunConfig) -> PrivateResult:
    """Fit PATE teachers once, then a student per ε; compare with a non-private student and the plain vote.

    Args:
        cfg: the run's settings.

    Returns:
        The results, also written to ``cfg.out`` as results.json and results.md.
    """
    from distill.private.pate import PrivateClassifier

    t0 = time.time()
    d = load(cfg)
    n_q = len(d["y_public"]) if cfg.queries == 0 else min(cfg.queries, len(d["y_public"]))
    log.info("%s: %d private, %d public (%d queried), %d test rows; %d %s teachers", d["name"], len(d["y_private"]),
             len(d["y_public"]), n_q, len(d["y_test"]), cfg.teachers, cfg.teacher)
    clf = PrivateClassifier(MODELS[cfg.teacher](cfg.seed), MODELS[cfg.student](cfg.seed), n_teachers=cfg.teachers,
                            aggregator=cfg.aggregator, epsilon=cfg.epsilon[0], delta=cfg.delta,
                            accounting=cfg.accounting, threshold=cfg.threshold, sigma1_ratio=cfg.sigma1_ratio,
                            n_queries=n_q, random_state=cfg.seed)
    clf.fit(d["X_private"], d["y_private"], X_public=d["X_public"])
    Xq, yq = d["X_public"][clf.query_index_], d["y_public"][clf.query_index_]
    yq_idx = np.searchsorted(clf.classes_, yq)
    teacher_acc = [float((t.predict(d["X_test"]) == d["y_test"]).mean()) for t in clf.teachers_]
    rows = []
    for eps in [*cfg.epsilon, math.inf]:
        if math.isinf(eps):  # the plain plurality vote: what the teachers know, with no privacy
            clf.set_params(sigma=0.0, aggregator="gnmax")
        else:
            clf.set_params(epsilon=eps, sigma=None, aggregator=cfg.aggregator)
        clf.fit_student(Xq)
        ans = clf.answered_
        rows.append({"epsilon_target": _finite(eps), "sigma": clf.sigma_, "sigma1": clf.sigma1_,
                     "answered": int(ans.sum()),
                     "label_accuracy": float((clf.query_labels_[ans] == yq_idx[ans]).mean()) if ans.any() else None,
                     "epsilon_independent": _finite(clf.epsilon_),
                     "epsilon_dependent": _finite(clf.epsilon_data_dependent_),
                     **_scores(clf, d["X_test"], d["y_test"], d["binary"])})
        log.info("ε target %s: %d answered, test accuracy %.3f", eps, ans.sum(), rows[-1]["accuracy"])
    baseline = MODELS[cfg.student](cfg.seed).fit(d["X_private"], d["y_private"])
    res = {"config": to_dict(cfg), "dataset": d["name"],
           "rows": {"private": len(d["y_private"]), "public": len(d["y_public"]), "queries": n_q,
                    "test": len(d["y_test"]), "features": int(d["X_private"].shape[1]),
                    "classes": len(clf.classes_)},
           "teacher_test_accuracy": {"median": float(np.median(teacher_acc)), "min": min(teacher_acc),
                                     "max": max(teacher_acc)},
           "curve": rows,
           "non_private_student": _scores(baseline, d["X_test"], d["y_test"], d["binary"]),
           "seconds": round(time.time() - t0, 1)}
    res = PrivateResult(res, report=markdown(res))
    write_results(Path(cfg.out), res)
    return res


def _finite(x: float) -> float | None:
    """``x``, or None for ∞ (JSON has no infinity; None reads as "no privacy")."""
    return None if math.isinf(x) else float(x)


def _eps(x) -> str:
    return "∞" if x is None or (isinstance(x, float) and math.isinf(x)) else f"{x:.2f}"


def markdown(res: dict) -> str:
    """The accuracy–ε table of a run.

    Args:
        res: the results of :func:`run`.

    Returns:
        Markdown text.
    """
    cfg, r = res["config"], res["rows"]
    auc = "auc" in res["non_private_student"]
    lines = [f"# PATE: {res['dataset']}", "",
             f"{r['private']} private rows → {cfg['teachers']} {cfg['teacher']} teachers (median test accuracy "
             f"{res['teacher_test_accuracy']['median']:.3f}); {r['queries']} of {r['public']} public rows queried; "
             f"{cfg['aggregator']} aggregation, ε calibrated {cfg['accounting']}ly, δ = {cfg['delta']:g}; "
             f"{cfg['student']} student; {r['test']} test rows; seed {cfg['seed']}.", "",
             "| ε target | σ | answered | label accuracy | ε (data-independent) | ε (data-dependent) | "
             "test accuracy |" + (" test AUC |" if auc else ""),
             "|---|---|---|---|---|---|---|" + ("---|" if auc else "")]
    for row in res["curve"]:
        la = "–" if row["label_accuracy"] is None else f"{row['label_accuracy']:.3f}"
        target = "∞ (plain vote)" if row["epsilon_target"] is None else f"{row['epsilon_target']:g}"
        lines.append(f"| {target} | {row['sigma']:.2f} | {row['answered']} | {la} | "
                     f"{_eps(row['epsilon_independent'])} | {_eps(row['epsilon_dependent'])} | {row['accuracy']:.3f} |"
                     + (f" {row['auc']:.3f} |" if auc else ""))
    npv = res["non_private_student"]
    lines += ["", f"Non-private student (trained on the private rows' labels): test accuracy {npv['accuracy']:.3f}"
              + (f", AUC {npv['auc']:.3f}" if auc else "") + ".", "",
              "The data-dependent ε depends on the private data and is not sanitized (the paper's smooth-sensitivity "
              "release is not implemented); the data-independent ε is the guarantee.", ""]
    return "\n".join(lines)
