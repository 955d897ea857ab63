"""The scenario generator: deterministic, chunked, writes the promised files, and does what its knobs say."""

import csv
import hashlib
import ipaddress
import json
from collections import Counter, defaultdict

import pytest

pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from distill.cli import main  # noqa: E402
from distill.detect.scenarios import ScenarioConfig, run, sample  # noqa: E402
from distill.detect.scenarios.presets import PRESETS  # noqa: E402
from distill.detect.scenarios.run import chunks  # noqa: E402

FILES = ("truth.csv", "kinds.csv", "accounts_meta.parquet", "privacy_relays.txt", "scenario.json", "simulation.json")


def digest(d):
    """Hash of every file a run wrote (names and bytes)."""
    h = hashlib.sha256()
    for p in sorted(q for q in d.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(d)).encode() + p.read_bytes())
    return h.hexdigest()


def records(d):
    return pq.read_table(sorted((d / "logs").glob("part-*.parquet"))).to_pylist()


def read_csv(p):
    with open(p) as f:
        return list(csv.DictReader(f))


def assert_no_request_before_signup(d):
    first = {}
    for r in records(d):
        first[r["account_id"]] = min(first.get(r["account_id"], r["ts"]), r["ts"])
    meta = pq.read_table(d / "accounts_meta.parquet").to_pylist()
    late = [m for m in meta if m["signup_ts"] > first[m["account_id"]]]
    assert not late, late[:3]


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a, b, c = (run(ScenarioConfig(records=3000, seed=s, out=str(tmp_path / n), chunk=1000))
               for n, s in (("a", 4), ("b", 4), ("c", 5)))
    assert a["files"] == 3
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_chunking_bounds_files_and_does_not_change_the_records(tmp_path):
    assert chunks(10, 4) == [(0, 4), (4, 8), (8, 10)]
    n = 20_000  # more than two internal blocks (8192), cut at boundaries that are not block boundaries
    run(ScenarioConfig(records=n, seed=2, out=str(tmp_path / "small"), chunk=3000))
    run(ScenarioConfig(records=n, seed=2, out=str(tmp_path / "big"), chunk=20_000))
    parts = sorted((tmp_path / "small" / "logs").glob("part-*.parquet"))
    assert len(parts) == 7 and all(pq.read_metadata(p).num_rows <= 3000 for p in parts)
    small, big = records(tmp_path / "small"), records(tmp_path / "big")
    assert len(small) == n and small == big
    assert len({r["request_id"] for r in small}) == n
    per_second = Counter(r["ts"] for r in small)
    assert max(per_second.values()) < 0.002 * n  # no pile-up at the edges of the window


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_writes_the_promised_files(tmp_path, preset):
    assert len(PRESETS) == 8  # guard: the parametrization found every preset
    res = run(ScenarioConfig(records=4000, seed=1, preset=preset, out=str(tmp_path), chunk=1500))
    for f in FILES:
        assert (tmp_path / f).exists(), f
    assert not list(tmp_path.rglob(".*.tmp"))  # atomic writes leave no temporary files
    recs = records(tmp_path)
    assert len(recs) == 4000 == res["records"]
    assert set(recs[0]) == {"ts", "request_id", "account_id", "ip", "payment_id", "user_agent", "model",
                            "system_prompt", "prompt", "prompt_tokens", "completion_tokens"}
    kinds = {r["account_id"]: r["kind"] for r in read_csv(tmp_path / "kinds.csv")}
    truth = read_csv(tmp_path / "truth.csv")
    assert set(kinds) == {r["account_id"] for r in recs}  # every account in the logs, and only those
    assert {r["account_id"] for r in truth} == {a for a, k in kinds.items() if k == "campaign"}
    assert all(r["operator"] and r["operator_kind"] for r in truth)
    meta = pq.read_table(tmp_path / "accounts_meta.parquet").to_pylist()
    assert {m["account_id"] for m in meta} == set(kinds)
    assert set(meta[0]) == {"account_id", "signup_ts", "payment_type", "payment_bin", "payment_country",
                            "email_domain", "program"}
    assert {m["program"] for m in meta} <= {"none", "education", "research", "startup"}
    assert_no_request_before_signup(tmp_path)
    scenario = json.loads((tmp_path / "scenario.json").read_text())
    assert scenario["preset"] == preset
    if preset == "no_campaign":
        assert not truth and {"class", "cgnat", "batch", "research", "nat"} <= set(kinds.values())
    elif preset == "default":
        assert {r["operator_kind"] for r in truth} == {"reasoning", "sweep", "agentic", "coding", "probe"}
    # privacy-relay users come from the listed relay ranges
    nets = [ipaddress.ip_network(x) for x in (tmp_path / "privacy_relays.txt").read_text().split()]
    relay_ips = {r["ip"] for r in recs if kinds[r["account_id"]] == "privacy_relay"}
    assert relay_ips and all(any(ipaddress.ip_address(ip) in n for n in nets) for ip in relay_ips)


def test_set_overrides_take_effect(tmp_path):
    res = run(ScenarioConfig(records=30_000, seed=3, preset="random", out=str(tmp_path), chunk=30_000,
                             set=("operators=2", "filler=0.85", "op1.proxy=relay", "op2.kind=coding", "accounts=20",
                                  "shape=steady", "rate=20",
                                  "paraphrase=false")))
    sc = json.loads((tmp_path / "scenario.json").read_text())
    assert len(sc["operators"]) == 2 and sc["operators"][1]["kind"] == "coding"
    assert sc["operators"][0]["proxy"] == "relay" and not any(o["paraphrase"] for o in sc["operators"])
    for name, op in res["operators"].items():
        assert op["records"] > 300, (name, op)
        assert abs(op["filler_share"] - 0.85) < 0.05, (name, op)
    truth = {r["account_id"]: r["operator"] for r in read_csv(tmp_path / "truth.csv")}
    nets = [ipaddress.ip_network(x) for x in (tmp_path / "privacy_relays.txt").read_text().split()]
    op1_ips = {r["ip"] for r in records(tmp_path) if truth.get(r["account_id"]) == "op1"}
    assert op1_ips and all(any(ipaddress.ip_address(ip) in n for n in nets) for ip in op1_ips)


def test_careful_operators_rotate_residential_addresses_and_pay_one_card_each(tmp_path):
    run(ScenarioConfig(records=30_000, seed=7, preset="careful", out=str(tmp_path), chunk=30_000))
    kinds = {r["account_id"]: r["kind"] for r in read_csv(tmp_path / "kinds.csv")}
    recs = records(tmp_path)
    camp = [r for r in recs if kinds[r["account_id"]] == "campaign"]
    ips = defaultdict(list)
    cards = defaultdict(set)
    for r in camp:
        ips[r["account_id"]].append(r["ip"])
        cards[r["account_id"]].add(r["payment_id"])
    # a fresh address per request: (almost) no address twice within an account
    assert sum(len(set(v)) for v in ips.values()) / len(camp) > 0.97
    assert all(len(c) == 1 for c in cards.values())  # one card per account...
    owners = defaultdict(set)
    for a, c in cards.items():
        owners[next(iter(c))].add(a)
    assert all(len(v) == 1 for v in owners.values())  # ...and no card shared between accounts

    def block(ip):
        return ip.rsplit(".", 1)[0] if "." in ip else ip.split("::")[0].rsplit(":", 1)[0]

    ordinary = {block(r["ip"]) for r in recs if kinds[r["account_id"]] != "campaign"}
    shared = sum(block(r["ip"]) in ordinary for r in camp) / len(camp)
    assert shared > 0.3  # the exits sit in blocks ordinary users come from


def test_heldout_ranges_differ_from_dev():
    def knobs(ranges):
        scs = [sample(1_000_000, s, "random", ranges) for s in range(40)]
        ops = [o for sc in scs for o in sc.operators]
        return {"max_operators": max(len(sc.operators) for sc in scs),
                "mean_filler": sum(o.filler for o in ops) / len(ops),
                "languages": {lang for o in ops for lang in o.languages}}

    dev, held = knobs("dev"), knobs("heldout")
    assert held["max_operators"] > 6 >= dev["max_operators"]
    assert held["mean_filler"] > dev["mean_filler"] + 0.1
    assert held["languages"] - dev["languages"]  # languages the dev ranges never use
    assert sample(1_000_000, 0, "random", "dev") != sample(1_000_000, 0, "random", "heldout")


def test_bad_settings_fail_at_the_door():
    with pytest.raises(ValueError, match="set"):
        sample(10_000, 0, "default", "dev", ("fillr=0.5",))
    with pytest.raises(ValueError, match="filler"):
        sample(10_000, 0, "default", "dev", ("filler=1.5",))
    with pytest.raises(ValueError, match="proxy"):
        sample(10_000, 0, "default", "dev", ("op1.proxy=tor",))
    with pytest.raises(ValueError, match="ranges"):
        sample(10_000, 0, "default", "nope")
    with pytest.raises(ValueError, match="records"):
        ScenarioConfig(records=10)


def test_cli(tmp_path, capsys):
    assert main(["detect", "simulate", "--records", "2000", "--seed", "1", "--preset", "paraphrase", "--format",
                 "jsonl", "--chunk", "1000", "--set", "operators=3", "--out", str(tmp_path), "--set", "op1.kind=probe"]) == 0
    lines = [json.loads(x) for p in sorted((tmp_path / "logs").glob("part-*.jsonl")) for x in p.read_text().splitlines()]
    assert len(lines) == 2000 and lines[0]["ts"].endswith("Z")
    sc = json.loads((tmp_path / "scenario.json").read_text())
    assert len(sc["operators"]) == 3 and all(len(o["languages"]) == 8 and o["shared_system"] == 0
                                            for o in sc["operators"])
    assert sc["operators"][0]["kind"] == "probe"  # a second --set adds to the first
    assert "campaign accounts of 3 operators" in capsys.readouterr().out


def test_scores_read_the_scenario_truth(tmp_path):
    pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    from distill.detect.metrics import score

    run(ScenarioConfig(records=4000, seed=2, out=str(tmp_path / "sim"), chunk=4000))
    kinds = read_csv(tmp_path / "sim" / "kinds.csv")
    ops = {r["account_id"]: r["operator"] for r in read_csv(tmp_path / "sim" / "truth.csv")}
    (tmp_path / "scan").mkdir()
    with open(tmp_path / "scan" / "accounts.csv", "w") as f:  # a perfect scan
        f.write("account_id,score,flagged,cluster\n")
        f.writelines(f"{r['account_id']},0.9,{int(r['account_id'] in ops)},{ops.get(r['account_id'], '')}\n"
                     for r in kinds)
    m = score(tmp_path / "scan", tmp_path / "sim")
    assert m["precision"] == m["recall"] == m["operator_ari"] == 1.0 and m["decoy_fpr"] == 0.0
    assert set(m["recall_by_operator_kind"]) == {"reasoning", "sweep", "agentic", "coding", "probe"}
    assert "class" in m["decoy_fpr_by_kind"]


@pytest.mark.parametrize("ranges", ["dev", "heldout"])
def test_random_worlds_build(tmp_path, ranges):
    """Any draw from either range set, and every preset over the held-out ranges, writes its logs."""
    for seed in range(8):
        res = run(ScenarioConfig(records=1200, seed=seed, preset="random", ranges=ranges, out=str(tmp_path), chunk=700))
        assert sum(res["records_by_kind"].values()) == 1200
        assert_no_request_before_signup(tmp_path)
    for preset in sorted(PRESETS):
        run(ScenarioConfig(records=1200, seed=1, preset=preset, ranges=ranges, out=str(tmp_path), chunk=1200))
