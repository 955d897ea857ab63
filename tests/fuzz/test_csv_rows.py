"""Fuzz: any CSV given to `distill tabular run --csv` loads or is refused with a ValueError naming the problem —
never another exception, and never a valid row lost."""

import csv
import io

import numpy as np
import pytest

pytest.importorskip("sklearn")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from distill.tabular.datasets import load_csv  # noqa: E402

pd = pytest.importorskip("pandas")
from pandas._libs.parsers import STR_NA_VALUES  # noqa: E402

number = st.one_of(st.integers(-1000, 1000).map(str), st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: f"{x:.3g}"))
hostile = st.sampled_from(["n/a?", "?", "inf", "-inf", "1e999", "NaN", "", "NA", " 3", "3,5", '"', "é", "\u202e",
                           "x" * 50, "1\n2", "\ud800", "0x1F", "١٢٣"])
cell = st.one_of(number, number, number, hostile, st.text(max_size=8))
target = st.sampled_from(["yes", "no", "yes", "no", "", "NA", "maybe"])


@st.composite
def csv_files(draw):
    cols = draw(st.integers(1, 4))
    n = draw(st.integers(0, 30))
    rows = []
    for _ in range(n):
        width = draw(st.sampled_from([cols + 1] * 8 + [cols, cols + 2]))  # now and then a row of the wrong width
        row = [draw(cell) for _ in range(width - 1)] + [draw(target)]
        rows.append(row)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # fields holding \r or \n are quoted
    w.writerow([f"f{i}" for i in range(cols)] + ["y"])
    w.writerows(rows)
    return cols, rows, buf.getvalue()


def _expected_rows(cols, rows, na_values):
    na = set(STR_NA_VALUES) | set(na_values)
    return sum(1 for r in rows if len(r) == cols + 1 and r[-1] not in na)


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _one(tmp_path, data, bad_rows, bad_cells, na_values):
    cols, rows, text = data
    p = tmp_path / "f.csv"
    p.write_bytes(text.encode("utf-8", "surrogatepass"))  # a lone surrogate becomes bytes that are not UTF-8
    try:
        d = load_csv(p, "y", bad_rows=bad_rows, bad_cells=bad_cells, na_values=na_values, positive="yes")
    except ValueError as e:  # a clear refusal: it names the file, a line, a column or the target
        msg = str(e)
        assert "f.csv" in msg or "'y'" in msg or "column" in msg, msg
        return
    assert len(d.X) == len(d.y) and set(np.unique(d.y)) <= {0, 1}
    if "\ud800" not in text:
        assert len(d.y) == _expected_rows(cols, rows, na_values)  # every valid row kept, none invented
    for c in d.X.columns:
        if pd.api.types.is_numeric_dtype(d.X[c]):
            assert np.isfinite(d.X[c].dropna().astype(float)).all(), c


@FUZZ
@given(data=csv_files(), bad_rows=st.sampled_from(["error", "skip"]), bad_cells=st.sampled_from(["error", "coerce"]),
       na_values=st.sampled_from([(), ("n/a?", "?")]))
def test_csv_rows(tmp_path, data, bad_rows, bad_cells, na_values):
    _one(tmp_path, data, bad_rows, bad_cells, na_values)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_csv_bytes(tmp_path, raw):
    p = tmp_path / "f.csv"
    p.write_bytes(b"a,b,y\n" + raw)
    try:
        load_csv(p, "y", bad_rows="skip", bad_cells="coerce")
    except ValueError:
        pass


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=csv_files(), bad_rows=st.sampled_from(["error", "skip"]), bad_cells=st.sampled_from(["error", "coerce"]),
       na_values=st.sampled_from([(), ("n/a?", "?")]))
def test_csv_rows_long(tmp_path, data, bad_rows, bad_cells, na_values):
    _one(tmp_path, data, bad_rows, bad_cells, na_values)
