"""`distill detect traffic` end to end on small simulated logs, and on bad input."""

import csv
import json

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

from distill.cli import main  # noqa: E402
from distill.detect.metrics import score  # noqa: E402
from distill.detect.simulate import SimulateConfig  # noqa: E402
from distill.detect.simulate import run as simulate  # noqa: E402
from distill.detect.traffic import TrafficConfig, run  # noqa: E402


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    d = tmp_path_factory.mktemp("traffic")
    simulate(SimulateConfig(records=40_000, seed=5, out=str(d / "sim"), chunk=20_000))
    res = run(TrafficConfig(logs=(str(d / "sim" / "logs"),), out=str(d / "scan"), memory_limit="1GB", shift=True))
    return d, res


def test_campaigns_found_decoys_spared(scanned):
    d, res = scanned
    m = score(d / "scan", d / "sim")
    assert m["precision"] >= 0.95 and m["recall"] >= 0.9, m
    assert m["operator_ari"] >= 0.9, m
    assert m["decoy_fpr"] == 0.0, m
    assert res["clusters"] == m["clusters_flagged"] >= 2


def test_outputs_have_the_promised_shape(scanned):
    d, res = scanned
    with open(d / "scan" / "accounts.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["account_id", "score", "flagged", "cluster"]
    assert len(rows) - 1 == res["accounts"]  # one row per account seen
    for _, s, fl, cl in rows[1:]:
        assert 0 <= float(s) <= 1 and fl in ("0", "1") and (cl != "") == (fl == "1")
    clusters = json.loads((d / "scan" / "clusters.json").read_text())
    assert {c["cluster"] for c in clusters} == {r[3] for r in rows[1:] if r[3]}
    for c in clusters:
        assert c["accounts"] == len(c["members"]) >= 5
        assert any("IP blocks" in e for e in c["evidence"]) and any("prompts read elicit reasoning" in e for e in c["evidence"])
    html = (d / "scan" / "report.html").read_text()
    assert html.count("<img") >= 3 and clusters[0]["cluster"] in html
    assert res["launches"][0]["model"] == "atlas-2"
    assert not (d / "scan" / "work").exists()  # scratch removed
    shift = (d / "scan" / "shift.csv").read_text().splitlines()
    assert shift[0] == "model,h,hour,n,mmd2,threshold,shifted" and len(shift) - 1 == res["shift"]["windows_tested"] > 0


def _good_line(i):
    return json.dumps({"ts": "2026-02-01T10:00:00Z", "request_id": f"r{i}", "account_id": f"a{i % 3}",
                       "ip": "10.1.2.3", "model": "m", "prompt": "hello", "prompt_tokens": 3, "completion_tokens": 9})


def test_bad_records_are_counted_with_line_numbers_and_skipped(tmp_path):
    lines = [_good_line(i) for i in range(6)]
    lines.insert(1, "{not json")
    lines.insert(3, json.dumps({"ts": "yesterday", "request_id": "x", "account_id": "a", "ip": "1.2.3.4",
                                "model": "m", "prompt": "p", "prompt_tokens": 1, "completion_tokens": 1}))
    lines.insert(5, json.dumps({"ts": "2026-02-01T10:00:00+02:00", "request_id": "y", "ip": "1.2.3.4",
                                "model": "m", "prompt": "p", "prompt_tokens": 1, "completion_tokens": 1}))
    lines.append(json.dumps({"ts": "2026-02-01T10:00:00Z", "request_id": "z", "account_id": "a", "ip": "1.2.3.4",
                             "model": "m", "prompt": "p", "prompt_tokens": "many", "completion_tokens": 1}))
    lines.append("[1, 2]")
    (tmp_path / "logs.jsonl").write_text("\n".join(lines) + "\n")
    res = run(TrafficConfig(logs=(str(tmp_path / "logs.jsonl"),), out=str(tmp_path / "out")))
    sk = res["skipped"]
    assert res["records"] == 6 and res["accounts"] == 3
    assert sk["by_reason"] == {"malformed JSON": 1, "bad ts": 1, "missing account_id": 1, "bad prompt_tokens": 1,
                               "not a JSON object": 1}
    assert sk["examples"]["malformed JSON"][0]["line"] == 2
    assert sk["examples"]["bad ts"][0]["line"] == 4
    assert sk["examples"]["missing account_id"][0]["line"] == 6
    assert sk["examples"]["bad prompt_tokens"][0]["line"] == 10
    assert "bad ts" in (tmp_path / "out" / "report.html").read_text()


def test_cli_json_and_refusals(tmp_path, capsys):
    (tmp_path / "l.jsonl").write_text("\n".join(_good_line(i) for i in range(4)) + "\n")
    assert main(["detect", "traffic", str(tmp_path / "l.jsonl"), "--out", str(tmp_path / "o"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["records"] == 4 and out["flagged_accounts"] == 0
    assert main(["detect", "traffic", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    with pytest.raises(ValueError, match="memory_limit"):
        TrafficConfig(logs=("x",), memory_limit="lots")


def test_same_logs_same_outputs_whatever_the_row_order_or_threads(scanned, tmp_path):
    """Determinism: three scans (as written; rows shuffled into other files; one thread) agree byte for byte."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d, _ = scanned
    table = pa.concat_tables([pq.read_table(f) for f in sorted((d / "sim" / "logs").glob("*.parquet"))])
    perm = __import__("numpy").random.default_rng(0).permutation(table.num_rows)
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for i, part in enumerate(__import__("numpy").array_split(perm, 3)):
        pq.write_table(table.take(part), shuffled / f"chunk-{i}.parquet")
    run(TrafficConfig(logs=(str(shuffled),), out=str(tmp_path / "a"), memory_limit="1GB", shift=True))
    run(TrafficConfig(logs=(str(d / "sim" / "logs"),), out=str(tmp_path / "b"), memory_limit="1GB", threads=1,
                      shift=True))
    for name in ("accounts.csv", "evidence.csv", "clusters.json", "candidates.csv", "shift.csv"):
        ref = (d / "scan" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() == ref, name
        assert (tmp_path / "b" / name).read_bytes() == ref, name


def test_a_course_behind_one_nat_is_not_a_campaign(tmp_path):
    """Scenario b holds a university course: students behind one NAT asking for step-by-step homework help."""
    import pandas as pd

    simulate(SimulateConfig(records=40_000, seed=8, scenario="b", out=str(tmp_path / "sim"), chunk=20_000))
    run(TrafficConfig(logs=(str(tmp_path / "sim" / "logs"),), out=str(tmp_path / "scan"), memory_limit="1GB"))
    kinds = pd.read_csv(tmp_path / "sim" / "kinds.csv").set_index("account_id")["kind"]
    acc = pd.read_csv(tmp_path / "scan" / "accounts.csv").set_index("account_id")
    flagged = acc["flagged"].reindex(kinds.index).fillna(0)
    assert (kinds != "campaign").sum() > 100
    for kind in sorted(set(kinds) - {"campaign"}):
        assert flagged[kinds == kind].mean() <= 0.01, kind
    assert flagged[kinds == "campaign"].mean() >= 0.9
