"""CSV input to `distill tabular run`: bad cells in numeric columns, and bad files, are named (issue 14 items 5, 10)."""

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")
from distill.tabular.datasets import load_csv  # noqa: E402


def _rows(n=120, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.integers(30, 80, n)
    chol = rng.normal(200, 30, n).round().astype(int)
    sex = rng.choice(["F", "M"], n)
    risk = 0.06 * (age - 55) + rng.normal(0, 1, n)
    return [[str(a), str(c), s, "yes" if r > 0 else "no"] for a, c, s, r in zip(age, chol, sex, risk, strict=True)]


def _write(path, rows, header="age,chol,sex,event"):
    path.write_text("\n".join([header] + [",".join(r) for r in rows]) + "\n")
    return path


@pytest.fixture
def dirty(tmp_path):
    """chol is numeric but for two cells: 'n/a?' on line 11 and '?' on line 41 (line 1 is the header)."""
    rows = _rows()
    rows[9][1], rows[39][1] = "n/a?", "?"
    return _write(tmp_path / "dirty.csv", rows)


def test_a_few_bad_cells_are_named_not_silently_categorical(dirty):
    """Issue 14 item 5: one 'n/a?' turned chol categorical (5 → 24 encoded features), no warning."""
    with pytest.raises(ValueError, match=r"column 'chol': 2 cell\(s\) like \['\?', 'n/a\?'\] on line\(s\) \[11, 41\]"
                                         r".*--na-values.*--bad-cells coerce"):
        load_csv(dirty, "event")


def test_na_values_and_coerce_keep_the_column_numeric(dirty):
    d = load_csv(dirty, "event", na_values=("n/a?", "?"))
    assert d.X["chol"].dtype == float and d.X["chol"].isna().sum() == 2 and d.coerced is None
    c = load_csv(dirty, "event", bad_cells="coerce")
    assert c.X["chol"].dtype == float and list(np.flatnonzero(c.X["chol"].isna())) == [9, 39]
    assert c.coerced == {"chol": {"count": 2, "values": ["?", "n/a?"], "lines": [11, 41]}}
    assert c.X["sex"].dtype == object  # a real categorical column is left alone
    with pytest.raises(ValueError, match="column 'chol': 1 cell"):  # only one of the markers given
        load_csv(dirty, "event", na_values=("?",))


def test_cli_bad_cells_coerce_keeps_five_encoded_features(dirty, tmp_path, capsys):
    from distill.cli import main

    args = ["tabular", "run", "--csv", str(dirty), "--target", "event", "--teacher", "gbm", "--student", "logistic",
            "--cv", "3", "--latency-repeats", "1", "--no-hard-baseline", "--out", str(tmp_path / "o"), "--json"]
    assert main(args) == 2
    assert "column 'chol'" in capsys.readouterr().err
    assert main(args + ["--bad-cells", "coerce"]) == 0
    res = json.loads(capsys.readouterr().out)
    # age, chol (+ its missing flag), sex one-hot (2) = 5; categorical chol would add one column per value
    assert res["rows"]["encoded_features"] == 5
    assert res["csv_cells_read_as_missing"]["chol"]["lines"] == [11, 41]
    assert main(args + ["--na-values", "n/a?", "?"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"]["encoded_features"] == 5


def _bad_file(tmp_path, kind):
    rows = _rows(40)
    p = tmp_path / f"{kind}.csv"
    if kind == "long_field":
        rows[1][2] = "x" * 200_000
        return _write(p, rows), r"line 3: a field is longer than 131,072 characters"
    if kind == "inf":
        rows[3][0] = "inf"
        return _write(p, rows), r"column 'age': 1 cell\(s\) like \['inf'\] on line\(s\) \[5\]"
    if kind == "utf8":
        _write(p, rows)
        lines = p.read_bytes().split(b"\n")
        lines[3] = lines[3].replace(b",F,", b",\xff,").replace(b",M,", b",\xff,")
        p.write_bytes(b"\n".join(lines))
        return p, r"line 4 is not UTF-8"
    if kind == "target_empty":
        for r in rows:
            r[3] = ""
        return _write(p, rows), r"target column 'event' of target_empty.csv has no values at all"
    if kind == "header_only":
        p.write_text("age,chol,sex,event\n")
        return p, r"has a header but no data rows"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["long_field", "inf", "utf8", "target_empty", "header_only"])
def test_bad_files_are_errors_naming_line_or_column(tmp_path, kind):
    """Issue 14 item 10: each of these was a traceback (_csv.Error, UnicodeDecodeError) or an unclear message."""
    path, match = _bad_file(tmp_path, kind)
    with pytest.raises(ValueError, match=match):
        load_csv(path, "event")
