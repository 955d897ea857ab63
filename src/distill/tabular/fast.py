"""Raw rows → probabilities in plain NumPy: the fitted encoder and student of a saved pipeline, without
scikit-learn's per-call validation (which costs milliseconds a row at batch 1).

``FastStudent.from_pipeline(make_pipeline(make_encoder(X).fit(X), student))`` reads the fitted parameters
(imputer statistics, missing-indicator columns, scaler mean/scale, one-hot categories and where each goes,
logistic coefficients, tree arrays, MLP weights) into arrays; ``predict_proba`` then gives the pipeline's
probabilities (equal to 1e-9; ``tests/tabular/test_fast.py`` checks it on the bundled sets). A pipeline it
cannot translate (another encoder shape, a HistGradientBoosting student) raises ``NotTranslatable`` naming
the part, so a caller can fall back (see ``distill.tabular.export.fastest``).

Cells are read the way ``distill.tabular.datasets.as_categories`` prepares them: a categorical cell is
compared as text (``str(v)``), and ``None``/NaN mean missing in every column.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

_UNSEEN = "\x00distill-unseen-category\x00"  # a category no training set holds, to see where unknowns go


class NotTranslatable(TypeError):
    """The pipeline holds a part FastStudent has no NumPy version of; use the pipeline (or ONNX) instead."""


@dataclass(frozen=True)
class _Numeric:
    """Numeric block: median imputation (+ missing flags), then standardization. Output width ``len(mean)``."""

    columns: list[str]  # input columns, in the encoder's order
    keep: np.ndarray  # (k,) int: input columns the imputer keeps (it drops ones all-missing in training)
    fill: np.ndarray  # (k,) float: the medians of the kept columns
    flags: np.ndarray  # (f,) int: input columns that get a missing indicator
    mean: np.ndarray  # (k + f,) scaler mean
    scale: np.ndarray  # (k + f,) scaler scale

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Impute, flag and scale the numeric cells.

        Args:
            x: (n, len(columns)) float with NaN for missing.

        Returns:
            (n, k + f) float64: the kept columns, then the missing-value flags, scaled.
        """
        miss = np.isnan(x)
        v = x[:, self.keep]
        v = np.where(miss[:, self.keep], self.fill, v)
        z = np.concatenate([v, miss[:, self.flags].astype(np.float64)], axis=1)
        z -= self.mean  # the same two in-place steps as StandardScaler.transform: bit-equal results
        z /= self.scale
        return z


@dataclass(frozen=True)
class _Categorical:
    """Categorical block: most-frequent imputation, then one-hot (infrequent and unseen as the encoder does)."""

    columns: list[str]
    index: list[dict[str, int]]  # per column: category text → output column (within the block); -1: no column
    fill: list[str]  # per column: the category a missing cell becomes
    unseen: list[int]  # per column: output column of an unseen category (the infrequent one), or -1
    width: int


@dataclass(frozen=True)
class FastStudent:
    """A fitted encoder + logistic/tree/MLP student as arrays; ``predict_proba`` takes raw rows."""

    numeric: _Numeric | None
    categorical: _Categorical | None
    head: Callable[[np.ndarray], np.ndarray]  # (n, d) encoded float64 → (n, K) probabilities
    classes: np.ndarray
    student: str  # the student's class name, for messages

    @classmethod
    def from_pipeline(cls, pipeline) -> FastStudent:
        """Read a fitted ``make_pipeline(make_encoder(...), student)`` into plain arrays.

        Args:
            pipeline: the fitted two-step pipeline (encoder, logistic / tree / MLP student).

        Returns:
            The FastStudent.

        Raises:
            NotTranslatable: a step it cannot translate, named.
        """
        steps = getattr(pipeline, "steps", None)
        if not steps or len(steps) != 2:
            raise NotTranslatable(f"FastStudent reads a two-step pipeline (encoder, student), got "
                                  f"{type(pipeline).__name__}{'' if steps is None else f' with {len(steps)} steps'}.")
        encoder, student = steps[0][1], steps[1][1]
        numeric, categorical = _read_encoder(encoder)
        head = _read_student(student)
        return cls(numeric, categorical, head, np.asarray(student.classes_), type(student).__name__)

    @property
    def columns(self) -> list[str]:
        return (self.numeric.columns if self.numeric else []) + (self.categorical.columns if self.categorical else [])

    def encode(self, rows) -> np.ndarray:
        """The encoder's output for raw rows.

        Args:
            rows: a dict, a list of dicts, or a DataFrame with the training columns.

        Returns:
            (n, d) float64, as the pipeline's encoder gives.
        """
        num, cat = self._cells(rows)
        parts = []
        if self.numeric is not None:
            parts.append(self.numeric.encode(num))
        if self.categorical is not None:
            parts.append(self._one_hot(cat))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def predict_proba(self, rows) -> np.ndarray:
        """Probabilities for raw rows.

        Args:
            rows: a dict, a list of dicts, or a DataFrame with the training columns.

        Returns:
            (n, K) probabilities, columns in the order of ``classes`` (the pipeline's ``classes_``).
        """
        return self.head(self.encode(rows))

    def _cells(self, rows) -> tuple[np.ndarray | None, list[list] | None]:
        """(n, numeric) float array with NaN for missing, and per categorical column its n raw cells."""
        ncols = self.numeric.columns if self.numeric else []
        ccols = self.categorical.columns if self.categorical else []
        if isinstance(rows, dict):
            rows = [rows]
        if hasattr(rows, "columns"):  # a DataFrame: one conversion to an object array, then columns by position
            where = {c: i for i, c in enumerate(rows.columns)}
            absent = [c for c in ncols + ccols if c not in where]
            if absent:
                raise ValueError(f"rows lack the training column(s) {absent}.")
            cells = rows.to_numpy(dtype=object)  # (n, columns)
            num = None
            if ncols:
                block = cells[:, [where[c] for c in ncols]]
                try:
                    num = block.astype(np.float64)
                except (TypeError, ValueError):  # None, pd.NA or text in a numeric column
                    num = np.array([[_number(v, c) for v, c in zip(r, ncols, strict=True)] for r in block],
                                   dtype=np.float64)
            return num, [cells[:, where[c]].tolist() for c in ccols]
        rows = list(rows)
        absent = sorted({c for r in rows for c in ncols + ccols if c not in r})
        if absent:
            raise ValueError(f"rows lack the training column(s) {absent}.")
        num = None
        if ncols:
            try:  # the common case: numbers and None, read in one call
                num = np.array([[r[c] for c in ncols] for r in rows], dtype=np.float64)
            except (TypeError, ValueError):
                num = np.array([[_number(r[c], c) for c in ncols] for r in rows], dtype=np.float64)
        return num, [[r[c] for r in rows] for c in ccols]

    def _one_hot(self, cells: list[list]) -> np.ndarray:
        cat = self.categorical
        n = len(cells[0])
        out = np.zeros((n, cat.width))
        for j, col in enumerate(cells):
            index, fill, unseen = cat.index[j], cat.fill[j], cat.unseen[j]
            for i, v in enumerate(col):
                key = fill if missing_cell(v) else (v if isinstance(v, str) else str(v))
                k = index.get(key, unseen)
                if k >= 0:
                    out[i, k] = 1.0
        return out


def missing_cell(v) -> bool:
    """Whether a raw cell is missing: None, NaN, pd.NA, NaT.

    Args:
        v: the cell.

    Returns:
        True for a missing cell.
    """
    return v is None or (isinstance(v, float) and math.isnan(v)) or (not isinstance(v, str) and _isna(v))


def _isna(v) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _number(v, column: str) -> float:
    if missing_cell(v):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"column {column!r} is numeric; got {v!r}.") from None


def _steps(transformer) -> list:
    return [s for _, s in transformer.steps] if hasattr(transformer, "steps") else [transformer]


def _read_encoder(encoder) -> tuple[_Numeric | None, _Categorical | None]:
    from sklearn.compose import ColumnTransformer

    if not isinstance(encoder, ColumnTransformer):
        raise NotTranslatable(f"FastStudent reads the ColumnTransformer of make_encoder, got {type(encoder).__name__}.")
    numeric = categorical = None
    for name, part, columns in encoder.transformers_:
        if part == "drop" or (len(columns) == 0 and name == "remainder"):
            continue
        kinds = [type(s).__name__ for s in _steps(part)]
        if kinds == ["SimpleImputer", "StandardScaler"] and numeric is None and categorical is None:
            numeric = _read_numeric(list(columns), *_steps(part))
        elif kinds == ["SimpleImputer", "OneHotEncoder"] and categorical is None:
            categorical = _read_categorical(list(columns), *_steps(part))
        else:
            raise NotTranslatable(f"FastStudent reads make_encoder's parts (numeric: SimpleImputer → StandardScaler, "
                                  f"then categorical: SimpleImputer → OneHotEncoder); part {name!r} is {kinds}.")
    return numeric, categorical


def _read_numeric(columns: list[str], imputer, scaler) -> _Numeric:
    if imputer.strategy not in ("median", "mean", "constant") or not _nan_marker(imputer):
        raise NotTranslatable(f"numeric SimpleImputer(strategy={imputer.strategy!r}) is not translated.")
    stats = np.asarray(imputer.statistics_, dtype=np.float64)
    keep = np.flatnonzero(~np.isnan(stats)) if not imputer.keep_empty_features else np.arange(len(stats))
    ind = getattr(imputer, "indicator_", None)
    if ind is not None and ind.features != "missing-only":
        raise NotTranslatable(f"MissingIndicator(features={ind.features!r}) is not translated.")
    flags = np.asarray(ind.features_, dtype=np.intp) if ind is not None else np.zeros(0, dtype=np.intp)
    width = len(keep) + len(flags)
    mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else np.zeros(width)
    scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else np.ones(width)
    return _Numeric(columns, keep, np.where(np.isnan(stats[keep]), 0.0, stats[keep]), flags, mean, scale)


def _nan_marker(imputer) -> bool:
    m = imputer.missing_values
    return isinstance(m, float) and math.isnan(m)


def _read_categorical(columns: list[str], imputer, ohe) -> _Categorical:
    """Where each category lands is read by transforming every category once (infrequent ones share a column)."""
    if imputer.strategy not in ("most_frequent", "constant") or not _nan_marker(imputer):
        raise NotTranslatable(f"categorical SimpleImputer(strategy={imputer.strategy!r}) is not translated.")
    if ohe.drop is not None or ohe.handle_unknown not in ("ignore", "infrequent_if_exist"):
        raise NotTranslatable(f"OneHotEncoder(drop={ohe.drop!r}, handle_unknown={ohe.handle_unknown!r}) is not "
                              "translated.")
    cats = [list(c) for c in ohe.categories_]
    if not all(isinstance(v, str) for c in cats for v in c):
        raise NotTranslatable("OneHotEncoder categories that are not text are not translated.")
    n = max(len(c) for c in cats) + 1
    # (n, columns): row r holds category r of each column (padded with its first); the last row is unseen.
    probe = np.array([[c[min(r, len(c) - 1)] for c in cats] for r in range(n - 1)] + [[_UNSEEN] * len(cats)],
                     dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unknown categories … encoded as all zeros": the probe is meant
        Z = np.asarray(ohe.transform(probe))
    widths = _block_widths(ohe, cats)
    starts = np.concatenate([[0], np.cumsum(widths)])
    index, unseen = [], []
    for j, c in enumerate(cats):
        block = Z[:, starts[j]:starts[j + 1]]
        hot = [np.flatnonzero(block[r]) for r in range(n)]
        if any(len(h) > 1 for h in hot):
            raise NotTranslatable("a category that sets more than one one-hot column is not translated.")
        where = [int(starts[j] + h[0]) if len(h) else -1 for h in hot]
        index.append({v: where[r] for r, v in enumerate(c)})
        unseen.append(where[-1])
    fill = [str(s) for s in imputer.statistics_]
    return _Categorical(columns, index, fill, unseen, int(starts[-1]))


def _block_widths(ohe, cats: list[list]) -> list[int]:
    infrequent = getattr(ohe, "infrequent_categories_", None) or [None] * len(cats)
    return [len(c) - (len(inf) - 1 if inf is not None else 0) for c, inf in zip(cats, infrequent, strict=True)]


def _read_student(est) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    if isinstance(est, LogisticRegression):
        return _logistic_head(np.asarray(est.coef_, dtype=np.float64), np.asarray(est.intercept_, dtype=np.float64))
    if isinstance(est, DecisionTreeClassifier):
        return _tree_head(est.tree_, len(est.classes_))
    if isinstance(est, MLPClassifier):
        return _mlp_head(est)
    raise NotTranslatable(f"FastStudent has no NumPy version of a {type(est).__name__} student (it translates "
                          "LogisticRegression, DecisionTreeClassifier and MLPClassifier); use the pipeline or ONNX.")


def _expit(x: np.ndarray) -> np.ndarray:
    from scipy.special import expit  # what scikit-learn calls: bit-equal probabilities

    return expit(x)


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=1, keepdims=True)
    return x


def _logistic_head(coef: np.ndarray, intercept: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """coef: (1 or K, d); binary → [1 − p, p] with p = expit(z·w + b), as LogisticRegression.predict_proba."""
    if coef.shape[0] == 1:
        w, b = coef[0], intercept[0]

        def binary(Z):
            p = _expit(Z @ w + b)
            return np.column_stack([1 - p, p])

        return binary
    return lambda Z: _softmax(Z @ coef.T + intercept)


def _tree_head(tree, n_classes: int) -> Callable[[np.ndarray], np.ndarray]:
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature, threshold = np.asarray(tree.feature), np.asarray(tree.threshold, dtype=np.float64)
    value = np.asarray(tree.value)[:, 0, :n_classes].astype(np.float64)  # (nodes, K)
    norm = value.sum(axis=1, keepdims=True)
    value = value / np.where(norm == 0, 1.0, norm)  # as DecisionTreeClassifier.predict_proba normalizes
    leaf = left == -1
    depth = int(tree.max_depth)

    def predict(Z):
        Z = Z.astype(np.float32)  # scikit-learn compares float32 features with float64 thresholds
        node = np.zeros(len(Z), dtype=np.intp)
        rows = np.arange(len(Z))
        for _ in range(depth):
            inner = ~leaf[node]
            if not inner.any():
                break
            go_left = Z[rows, np.where(inner, feature[node], 0)] <= threshold[node]
            node = np.where(inner, np.where(go_left, left[node], right[node]), node)
        return value[node]

    return predict


_ACTIVATIONS = {"identity": lambda x: x, "relu": lambda x: np.maximum(x, 0, out=x), "tanh": np.tanh,
                "logistic": lambda x: _expit(x)}


def _mlp_head(est) -> Callable[[np.ndarray], np.ndarray]:
    if est.activation not in _ACTIVATIONS or est.out_activation_ not in ("logistic", "softmax"):
        raise NotTranslatable(f"MLPClassifier(activation={est.activation!r}, output {est.out_activation_!r}) is "
                              "not translated.")
    Ws = [np.asarray(W, dtype=np.float64) for W in est.coefs_]
    bs = [np.asarray(b, dtype=np.float64) for b in est.intercepts_]
    act, out = _ACTIVATIONS[est.activation], est.out_activation_

    def predict(Z):
        a = Z
        for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            a = a @ W
            a += b
            if i < len(Ws) - 1:
                a = act(a)
        if out == "softmax":
            return _softmax(a)
        p = _expit(a).ravel()
        return np.column_stack([1 - p, p])

    return predict
