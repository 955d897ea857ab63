"""The simulator is deterministic, writes the promised files, and contains what it claims."""

import csv
import json

import pytest

pytest.importorskip("pyarrow")

from distill.detect.simulate import SimulateConfig, chunk_table, population, run  # noqa: E402


def test_same_seed_same_logs_other_seed_other_logs():
    cfg = SimulateConfig(records=5000, seed=3, out="unused")
    pop, world = population(cfg)
    a = chunk_table(cfg, pop, world, 0, 2000)
    b = chunk_table(cfg, *population(cfg), 0, 2000)
    assert a.equals(b)
    c = chunk_table(SimulateConfig(records=5000, seed=4, out="x"), *population(SimulateConfig(records=5000, seed=4,
                                                                                              out="x")), 0, 2000)
    assert not a.equals(c)


def test_run_writes_logs_and_truth(tmp_path):
    res = run(SimulateConfig(records=6000, seed=1, out=str(tmp_path), chunk=2500, format="jsonl"))
    files = sorted((tmp_path / "logs").glob("part-*.jsonl"))
    assert len(files) == 3
    lines = [json.loads(x) for f in files for x in f.read_text().splitlines()]
    assert len(lines) == 6000
    assert set(lines[0]) == {"ts", "request_id", "account_id", "ip", "payment_id", "user_agent", "model",
                             "system_prompt", "prompt", "prompt_tokens", "completion_tokens"}
    assert lines[0]["ts"].endswith("Z")
    with open(tmp_path / "truth.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["account_id", "operator"]
    seen = {r["account_id"] for r in lines}
    assert {r[0] for r in rows[1:]} == seen  # one truth row per account that appears in the logs
    ops = {r[1] for r in rows[1:]} - {""}
    assert ops == {"op1", "op2", "op3"} and res["accounts"] == len(seen)
    # campaigns rotate IPs: their accounts use far more addresses per request than genuine users
    op = {r[0] for r in rows[1:] if r[1]}
    ips_per_acct = {}
    for r in lines:
        ips_per_acct.setdefault(r["account_id"], set()).add(r["ip"])
    camp = [len(v) for k, v in ips_per_acct.items() if k in op]
    assert sum(camp) / len(camp) > 3


def test_scenario_b_has_five_campaigns(tmp_path):
    pop, world = population(SimulateConfig(records=20000, scenario="b", out="x"))
    assert len(world["campaigns"]) == 5 and {o for o in pop.operator if o} == {f"op{i}" for i in range(1, 6)}


def test_bad_settings_fail_at_the_door():
    with pytest.raises(ValueError, match="records"):
        SimulateConfig(records=10)
