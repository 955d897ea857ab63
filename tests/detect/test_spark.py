"""The same feature SQL on Spark SQL (local mode) flags the same accounts as on DuckDB."""

import shutil

import pandas as pd
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("duckdb")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java", allow_module_level=True)

from distill.detect.simulate import SimulateConfig  # noqa: E402
from distill.detect.simulate import run as simulate  # noqa: E402
from distill.detect.traffic import TrafficConfig, run  # noqa: E402


@pytest.mark.slow
def test_spark_and_duckdb_flag_the_same_accounts(tmp_path):
    simulate(SimulateConfig(records=12_000, seed=7, out=str(tmp_path / "sim"), chunk=6_000))
    bad = tmp_path / "sim" / "logs" / "extra.jsonl"  # JSON lines next to Parquet, one of them broken
    bad.write_text('{"ts": "2026-02-03T04:05:06Z", "request_id": "q", "account_id": "solo", "ip": "::1", '
                   '"model": "atlas-1", "prompt": "hi", "prompt_tokens": 1, "completion_tokens": 2}\n{broken\n')
    res = {}
    for engine in ("duckdb", "spark"):
        res[engine] = run(TrafficConfig(logs=(str(tmp_path / "sim" / "logs"),), out=str(tmp_path / engine),
                                        engine=engine))
    a = pd.read_csv(tmp_path / "duckdb" / "accounts.csv", keep_default_na=False).set_index("account_id")
    b = pd.read_csv(tmp_path / "spark" / "accounts.csv", keep_default_na=False).set_index("account_id")
    assert len(a) == len(b) == res["spark"]["accounts"] and res["spark"]["records"] == res["duckdb"]["records"]
    assert a["flagged"].sum() > 0
    assert (a["flagged"] == b.loc[a.index, "flagged"]).all()
    assert (a["cluster"] == b.loc[a.index, "cluster"]).all()
    assert res["spark"]["skipped"]["by_reason"] == res["duckdb"]["skipped"]["by_reason"] == {"malformed JSON": 1}
