"""`distill tabular run`: teacher → out-of-fold soft labels → student, compared on held-out rows."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Literal

import numpy as np

from distill.config import check, doc, settings, to_dict
from distill.files import write_results
from distill.results import Result
from distill.tabular.students import STUDENTS, TEACHERS

log = logging.getLogger(__name__)


@settings
class TabularRunConfig:
    """Settings of `distill tabular run`."""

    dataset: str = doc("a bundled data set (see distill.tabular.DATASETS), or use --csv", default="")
    csv: str = doc("a CSV file with a header row (instead of --dataset)", default="")
    target: str = doc("the label column of --csv", default="")
    positive: str = doc("the target value that is class 1 (needed when the target has > 2 values)", default="")
    sensitive: str = doc("a column whose groups the fairness gap is measured across "
                         "(bundled sets have a default; 'none' turns it off)", default="")
    bad_rows: Literal["error", "skip"] = doc("CSV rows with the wrong number of fields: error or skip",
                                             default="error")
    na_values: tuple[str, ...] = doc("extra CSV cell values that mean 'missing' (besides '', NA, NaN, n/a, null, ...)",
                                     default=())
    bad_cells: Literal["error", "coerce"] = doc(
        "CSV cells that are not numbers in a column of numbers (and ±inf): error (naming column, values and "
        "lines) or coerce (read them as missing, with a warning)", default="error")
    drop: tuple[str, ...] = doc("CSV columns to leave out of the features (row ids, follow-up times, anything "
                                "recorded after the label)", default=())
    teacher: tuple[str, ...] = doc("teacher(s) (`distill list tabular-teachers`); several = multi-teacher mode",
                                   default=("rf",), choices=TEACHERS.names())
    combine: Literal["mean", "weighted", "best"] = doc("how several teachers' labels are combined", default="mean")
    student: str = doc("student family (`distill list tabular-students`)", default="logistic", choices=STUDENTS.names())
    soft_weight: str = doc("weight of the teacher's soft labels (1 − soft_weight on the hard labels), a number in "
                           "[0, 1], or auto: chosen with the temperature by inner cross-validation on the training "
                           "rows (0, hard labels only, is among the choices)", default="auto", was="alpha")
    temperature: str = doc("softening temperature > 0 (logistic and mlp students only), or auto (with "
                           "--soft-weight auto: chosen too; 1 for tree and gbm)", default="auto")
    cv: int = doc("stratified folds for the out-of-fold teacher labels", default=5, ge=2)
    test_size: float = doc("share of rows held out for evaluation (stratified)", default=0.25, gt=0, lt=1)
    seed: int = doc("random seed (split, folds, models)", default=0)
    hard_baseline: bool = doc("also train the same student on the hard labels only", default=True)
    latency_repeats: int = doc("timed calls per latency figure (median reported)", default=50, ge=1)
    out: str = doc("output folder: results.json, results.md, reliability.png, student.skops",
                   default="runs/tabular")

    def __post_init__(self):
        from distill.tabular.datasets import DATASETS
        check(bool(self.dataset) != bool(self.csv), "dataset", self.dataset or self.csv,
              "given, or --csv FILE with --target COLUMN, but not both")
        check(not self.dataset or self.dataset in DATASETS, "dataset", self.dataset, f"one of {sorted(DATASETS)}")
        check(not self.csv or bool(self.target), "target", self.target, "the label column of --csv (--target COLUMN)")
        check(not self.drop or bool(self.csv), "drop", self.drop, "empty unless --csv is given")
        check(len(self.teacher) >= 1, "teacher", self.teacher, f"one or more of {list(TEACHERS)}")
        check(self.soft_weight == "auto" or _number(self.soft_weight, 0, 1), "soft_weight", self.soft_weight,
              "auto or a number in [0, 1]")
        check(self.temperature == "auto" or _number(self.temperature, 0, None), "temperature", self.temperature,
              "auto or a number > 0")
        check(self.temperature == "auto" or float(self.temperature) == 1 or self.student in ("logistic", "mlp"),
              "temperature", self.temperature, "1 or auto for students without logits (tree, gbm)")


def _number(text: str, lo: float, hi: float | None) -> bool:
    """Whether ``text`` reads as a number in [lo, hi] (hi None: > lo)."""
    try:
        x = float(text)
    except ValueError:
        return False
    return lo <= x <= hi if hi is not None else x > lo


def _auto_or_float(text: str):
    """ "auto" as is, a number as a float."""
    return text if text == "auto" else float(text)


def load_data(cfg: TabularRunConfig):
    """The data set the config names: a bundled one (``dataset``) or a CSV file (``csv``).

    Args:
        cfg: the run's settings; ``sensitive`` "none" means no group column, empty means the set's own.

    Returns:
        The loaded :class:`~distill.tabular.datasets.TabularData`.
    """
    from distill.tabular.datasets import load_csv, load_dataset

    sens = None if cfg.sensitive.lower() == "none" else (cfg.sensitive or None)
    if cfg.dataset:
        return load_dataset(cfg.dataset, sens if cfg.sensitive else "default")
    return load_csv(cfg.csv, cfg.target, sens, cfg.positive or None, cfg.bad_rows, cfg.na_values, cfg.bad_cells, cfg.drop)


def model_metrics(name: str, y, p, group, predict, Z, repeats: int, model) -> dict:
    """AUC, ECE, Brier, fairness gaps, latency per row at batch 1 and 1,024, and skops size of one model.

    Args:
        name: the model's label in the results.
        y: held-out 0/1 labels (n,).
        p: the model's probabilities of class 1 (n,).
        group: the sensitive group of each row (n,), or None (no fairness gaps).
        predict: the function whose latency is timed (called on rows of ``Z``).
        Z: the encoded held-out rows.
        repeats: timed calls at batch 1 (a fifth of them, at least 3, at batch 1,024).
        model: the fitted model whose skops size is measured.

    Returns:
        {"model", "auc", "ece", "brier", "reliability", "latency_s_batch1", "latency_s_batch1024",
        "size_bytes"} and "fairness" when ``group`` is given.
    """
    from distill.tabular import metrics as M

    res = {"model": name, "auc": M.auc(y, p), "ece": M.ece(y, p), "brier": M.brier(y, p),
           "reliability": M.reliability(y, p),
           "latency_s_batch1": M.latency_per_row(predict, Z, 1, repeats),
           "latency_s_batch1024": M.latency_per_row(predict, Z, 1024, max(3, repeats // 5)),
           "size_bytes": M.skops_size(model)}
    if group is not None:
        res["fairness"] = M.fairness_gaps(y, p, group)
    return res


class TabularResult(Result):
    """What `distill tabular run` returns (``results.json``); its summary is ``results.md``."""

    models: dict
    seconds: float
    config: dict


def run(cfg: TabularRunConfig) -> TabularResult:
    """Fit teacher and student on a stratified training split; compare them on the held-out rows.

    Args:
        cfg: the run's settings.

    Returns:
        The results, also written to ``cfg.out`` as results.json, with report.md, reliability.png and
        student.skops (encoder + student).
    """
    import skops.io as sio
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    from distill.tabular import metrics as M
    from distill.tabular.datasets import make_encoder
    from distill.tabular.estimator import DistilledClassifier
    from distill.tabular.report import markdown, reliability_plot
    from distill.tabular.students import make

    t_start = time.time()
    data = load_data(cfg)
    counts = np.bincount(data.y)
    check(counts.min() >= cfg.cv + 1, "cv", cfg.cv, f"fewer than the rows of the rarer class ({counts.min()})")
    idx_tr, idx_te = train_test_split(np.arange(len(data.y)), test_size=cfg.test_size, stratify=data.y,
                                      random_state=cfg.seed)
    X_tr, X_te = data.X.iloc[idx_tr], data.X.iloc[idx_te]
    y_tr, y_te = data.y[idx_tr], data.y[idx_te]
    encoder = make_encoder(X_tr).fit(X_tr)
    Z_tr, Z_te = encoder.transform(X_tr), encoder.transform(X_te)  # (n, d) float: both models see the same input
    group = None if data.sensitive is None else data.sensitive.to_numpy()[idx_te]
    teachers = [make("teacher", t, cfg.seed) for t in cfg.teacher]
    student = make("student", cfg.student, cfg.seed)
    log.info("%s: %d train / %d test rows, %d encoded features; fitting %s → %s", data.name, len(y_tr), len(y_te),
             Z_tr.shape[1], cfg.teacher, cfg.student)
    clf = DistilledClassifier(teachers if len(teachers) > 1 else teachers[0], student, cv=cfg.cv,
                              soft_weight=_auto_or_float(cfg.soft_weight), temperature=_auto_or_float(cfg.temperature), combine=cfg.combine, random_state=cfg.seed)
    t_fit = time.time()
    clf.fit(Z_tr, y_tr)
    log.info("teacher %s: %d-fold out-of-fold labels, refitted on all %d rows; student %s trained (%.0f s)",
             "+".join(cfg.teacher), cfg.cv, len(y_tr), cfg.student, time.time() - t_fit)
    models = [("teacher", clf.teacher_), ("student", clf.student_)]
    if cfg.hard_baseline:
        models.append(("student_hard_labels", clone(student).fit(Z_tr, y_tr)))
    rows = {}
    for name, model in models:
        p = model.predict_proba(Z_te)[:, 1]
        rows[name] = model_metrics(name, y_te, p, group, model.predict_proba, Z_te, cfg.latency_repeats, model)
    log.info("scored %s on %d held-out rows (latency: %d timed calls each)", ", ".join(rows), len(y_te),
             cfg.latency_repeats)
    t, s = rows["teacher"], rows["student"]
    enc_latency = M.latency_per_row(encoder.transform, X_te, 1, cfg.latency_repeats)
    res = {
        "config": to_dict(cfg), "dataset": data.name, "positive": data.positive,
        "rows": {"train": len(y_tr), "test": len(y_te), "features": int(data.X.shape[1]),
                 "encoded_features": int(Z_tr.shape[1]), "positive_rate": float(data.y.mean())},
        "models": rows,
        "soft_weight_chosen": clf.soft_weight_, "temperature_chosen": clf.temperature_,
        "auto_table": clf.auto_table_,
        "auc_retention": s["auc"] / t["auc"],
        "speedup_batch1": t["latency_s_batch1"] / s["latency_s_batch1"],
        "speedup_batch1024": t["latency_s_batch1024"] / s["latency_s_batch1024"],
        "encoder_latency_s_batch1": enc_latency,
        "speedup_batch1_with_encoding": (t["latency_s_batch1"] + enc_latency) / (s["latency_s_batch1"] + enc_latency),
        "ece_increase": s["ece"] - t["ece"],
    }
    if getattr(data, "coerced", None):
        res["csv_cells_read_as_missing"] = data.coerced
    if "student_hard_labels" in rows:
        res["auc_gain_over_hard_labels"] = s["auc"] - rows["student_hard_labels"]["auc"]
    if len(teachers) > 1:
        res["teachers"] = [dict(r, test_auc=M.auc(y_te, e.predict_proba(Z_te)[:, 1]), name=n)
                           for r, e, n in zip(clf.teachers_report_, clf.teacher_.estimators_, cfg.teacher, strict=True)]
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    # The saved student takes raw rows (prepared by distill.tabular.datasets.as_categories) → probabilities.
    sio.dump(make_pipeline(encoder, clf.student_), out / "student.skops")
    res["student_file"] = str(out / "student.skops")
    # The file holds the encoder too, so it is larger than the student model the table sizes.
    res["student_file_bytes"] = (out / "student.skops").stat().st_size
    res["deployed"] = deployed_latency(make_pipeline(encoder, clf.student_), X_tr, X_te,
                                       t["latency_s_batch1"] + enc_latency, cfg.latency_repeats)
    log.info("deployed student (%s): %.0f µs per raw row, %.0f× the teacher end to end", res["deployed"]["path"],
             res["deployed"]["latency_s_batch1_raw_row"] * 1e6, res["deployed"]["speedup_end_to_end"])
    res["seconds"] = round(time.time() - t_start, 1)
    reliability_plot(res, out / "reliability.png")
    res = TabularResult(res, report=markdown(res))
    write_results(out, res)
    return res


def deployed_latency(pipeline, X_train, X_test, teacher_latency: float, repeats: int) -> dict:
    """End-to-end batch-1 latency of the fastest translation of the saved student (``export.fastest``:
    NumPy, else ONNX, else the pipeline) on raw rows (dicts, as a service receives them).

    Args:
        pipeline: the saved student (encoder + student).
        X_train: raw training rows (the ONNX check sample).
        X_test: raw held-out rows, timed one at a time.
        teacher_latency: the teacher's seconds per row at batch 1, encoding included.
        repeats: timed calls (median reported).

    Returns:
        {"path", "latency_s_batch1_raw_row", "speedup_end_to_end", "max_abs_diff"}: the path used, its
        median seconds per row, the teacher's latency over it, and its largest probability difference
        from the pipeline on the held-out rows.
    """
    from distill.tabular.export import fastest

    fast = fastest(pipeline, X_sample=X_train.iloc[:256])
    rows = X_test.to_dict("records")
    times = []
    for i in range(max(repeats, 20)):
        row = rows[i % len(rows)]
        t0 = time.perf_counter()
        fast.predict_proba(row if fast is not pipeline else X_test.iloc[[i % len(rows)]])
        times.append(time.perf_counter() - t0)
    latency = float(np.median(times[1:]))
    diff = float(np.abs(np.asarray(fast.predict_proba(X_test)) - pipeline.predict_proba(X_test)).max())
    return {"path": type(fast).__name__, "latency_s_batch1_raw_row": latency,
            "speedup_end_to_end": teacher_latency / latency, "max_abs_diff": diff}


# Every type a student saved by `distill tabular run` can contain (the encoder of make_encoder and the four
# student families), exact names: module.class. Nothing else is loaded, builtin functions least of all.
STUDENT_TYPES = frozenset({
    # containers and scalars skops writes for attributes
    "builtins.dict", "builtins.list", "builtins.tuple", "builtins.slice", "builtins.str", "builtins.int",
    "builtins.float", "builtins.bool", "builtins.NoneType",
    "numpy.ndarray", "numpy.dtype", "numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32", "numpy.intp",
    "numpy.uint8", "numpy.uint32", "numpy.uint64", "numpy.bool_", "numpy.bool", "numpy.object_", "numpy.str_",
    "numpy.random._generator.Generator", "numpy.random.mtrand.RandomState",
    # the encoder (distill.tabular.datasets.make_encoder) and the pipeline around it
    "sklearn.pipeline.Pipeline", "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.impute._base.SimpleImputer", "sklearn.impute._base.MissingIndicator",
    "sklearn.preprocessing._data.StandardScaler", "sklearn.preprocessing._encoders.OneHotEncoder",
    # the students (distill.tabular.students.STUDENTS)
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._tree.Tree",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer", "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn._loss.loss.HalfBinomialLoss", "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss.link.LogitLink", "sklearn._loss.link.Interval",
})
# How skops may build them: no FunctionNode, MethodNode, PartialNode, OperatorFuncNode or
# ConstructorFromReduceNode (those call or return arbitrary callables).
STUDENT_LOADERS = frozenset({"DictNode", "ListNode", "TupleNode", "SliceNode", "JsonNode", "TypeNode", "ObjectNode",
                             "NdArrayNode", "DTypeNode", "RandomStateNode", "RandomGeneratorNode", "TreeNode",
                             "LossNode"})


def _schema_types(path: Path) -> tuple[set[str], set[str]]:
    """(module.class names, loaders) of every node in a skops file's schema, read as JSON (nothing is built)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            schema = json.loads(z.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError) as e:
        raise ValueError(f"{path} is not a skops file saved by `distill tabular run` ({e}); not loading it.") from None
    types, loaders = set(), set()
    stack = [schema]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            if "__class__" in o or "__module__" in o or "__loader__" in o:
                types.add(f"{o.get('__module__')}.{o.get('__class__')}")
                loaders.add(str(o.get("__loader__")))
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return types, loaders


def load_student(path: str | Path, *, fast: bool = True, X_sample=None):
    """Load a student saved by `distill tabular run`, ready to serve raw rows.

    The file's schema is read first, without building anything, and every type in it must be one
    of ``STUDENT_TYPES`` (built by one of ``STUDENT_LOADERS``); a file naming anything else (e.g.
    ``builtins.exec``) is refused with the types named, before skops constructs a single object.

    Args:
        path: the ``student.skops`` file.
        fast: True: wrap the pipeline in :class:`~distill.tabular.export.Deployed`, whose
            ``predict_proba(raw_row)`` runs the fastest exact path (``FastStudent`` for logistic, tree
            and MLP students; with ``X_sample``, a checked ONNX graph for the others; else the pipeline).
            False: the pipeline itself.
        X_sample: raw rows to check an ONNX graph on (see ``export.fastest``); None: no ONNX.

    Returns:
        A ``Deployed`` (``.pipeline`` holds the scikit-learn Pipeline), or with ``fast=False`` the
        Pipeline (encoder + student); both take raw rows.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: not a skops file, types or loaders outside the allowed sets, not an encoder +
            student pipeline, or tree nodes pointing outside their tree or input.
    """
    import skops.io as sio
    from sklearn.pipeline import Pipeline

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"student file {path} does not exist.")
    types, loaders = _schema_types(path)
    foreign = sorted(types - STUDENT_TYPES)
    odd = sorted(loaders - STUDENT_LOADERS)
    if foreign or odd:
        what = "; ".join(x for x in (f"types {foreign}" if foreign else "",
                                     f"skops loaders {odd}" if odd else "") if x)
        raise ValueError(f"{path} holds {what}, which a student saved by `distill tabular run` never contains; "
                         "not loading it (a crafted file could run code). Load only students you made.")
    untrusted = sio.get_untrusted_types(file=path)
    if set(untrusted) - STUDENT_TYPES:  # skops's own reading of the schema: the same check, once more
        raise ValueError(f"{path} holds types {sorted(set(untrusted) - STUDENT_TYPES)}; not loading it.")
    model = sio.load(path, trusted=untrusted)
    if not (isinstance(model, Pipeline) and hasattr(model, "predict_proba")):
        raise ValueError(f"{path} holds a {type(model).__name__}, not the encoder + student pipeline "
                         "`distill tabular run` saves; not using it.")
    _check_trees(model[-1], path)
    if not fast:
        return model
    from distill.tabular.export import Deployed

    return Deployed(model, X_sample)


def _check_trees(est, path: Path) -> None:
    """Refuse tree nodes that point outside their tree or their input (scikit-learn follows them unchecked at
    prediction time, so a crafted file could read out of bounds or loop forever)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.tree import DecisionTreeClassifier

    def check(name, n, left, right, leaf, feature, n_features):
        idx = np.arange(n)
        inner = ~leaf
        ok = (len(left) == len(right) == len(feature) == n
              and np.all((left[inner] > idx[inner]) & (left[inner] < n))  # children come after their parent
              and np.all((right[inner] > idx[inner]) & (right[inner] < n))
              and np.all((feature[inner] >= 0) & (feature[inner] < n_features)))
        if not ok:
            raise ValueError(f"{path}: {name} has nodes pointing outside the tree or the input's "
                             f"{n_features} features; not loading it (a crafted or damaged file).")

    n_features = int(getattr(est, "n_features_in_", 0))
    if isinstance(est, DecisionTreeClassifier):
        t = est.tree_
        left, right = np.asarray(t.children_left), np.asarray(t.children_right)
        check("the decision tree", int(t.node_count), left, right, left == -1, np.asarray(t.feature), n_features)
        if not np.array_equal(left == -1, right == -1) or t.value.shape[0] != t.node_count:
            raise ValueError(f"{path}: the decision tree's nodes are inconsistent; not loading it.")
    elif isinstance(est, HistGradientBoostingClassifier):
        for i, row in enumerate(est._predictors):
            for p in row:
                nodes = p.nodes
                leaf = nodes["is_leaf"].astype(bool)
                check(f"boosting tree {i}", len(nodes), nodes["left"].astype(np.int64),
                      nodes["right"].astype(np.int64), leaf, nodes["feature_idx"].astype(np.int64), n_features)
                if np.any(nodes["is_categorical"][~leaf]):
                    raise ValueError(f"{path}: boosting tree {i} splits on categories, which a student saved by "
                                     "`distill tabular run` never does; not loading it.")
