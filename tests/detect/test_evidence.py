"""Cluster scoring: links and prompts alone (a class behind a NAT) are not enough to flag."""

import pandas as pd
import pytest

from distill.detect.evidence import cluster_table, describe
from distill.detect.traffic import TrafficConfig


def _world(blocks_hydra: int):
    ids = [f"c{i}" for i in range(10)] + [f"h{i}" for i in range(10)] + ["s0", "s1", "s2"]
    comp = [0] * 10 + [1] * 10 + [2] * 3
    blocks = [1] * 10 + [blocks_hydra] * 10 + [8] * 3
    acc = pd.DataFrame({"n_req": 50, "s": 0.8, "n_cot": 6, "n_sampled": 12, "n_blocks": blocks, "n_launch_day": 0,
                        "n_launch_day_new": 0, "avg_completion_tokens": 900.0,
                        "avg_prompt_tokens": 30.0, "n_hours": 20, "mean_gap": 100.0, "sd_gap": 300.0}, index=pd.Index(ids, name="account_id"))
    members = pd.DataFrame({"account_id": ids, "comp": comp})
    links = pd.DataFrame({"comp": [0, 1, 2], "kinds": ["ip_block + template"] * 3, "accounts": [10, 10, 3]})
    sync = pd.DataFrame({"comp": [0, 1, 2], "sync_share": [0.0, 0.0, 0.5], "burst_windows": [0, 0, 4]})
    return acc, members, links, sync


def test_operational_sign_is_required_and_size_matters():
    acc, members, links, sync = _world(blocks_hydra=6)
    cfg = TrafficConfig(logs=("x",))
    t = cluster_table(acc, members, links, pd.DataFrame(), pd.DataFrame(), sync, pd.DataFrame(), cfg).set_index("comp")
    assert t.loc[0, "score"] >= cfg.flag_score  # strong on links + prompts …
    assert not t.loc[0, "flagged"]  # … but no rotation, bursts, shared payment or retargeting: a class
    assert t.loc[1, "flagged"] and t.loc[1, "cluster"] == "op001"  # the same plus IP rotation
    assert not t.loc[2, "flagged"]  # three accounts: below min_accounts (5)
    assert t.loc[1, "score"] == pytest.approx(1 - (1 - 0.5) * (1 - 0.5) * (1 - 0.3 * 5 / 4 * 4 / 5) * (1 - 0.2 * 0.5))


def test_evidence_sentences_name_the_facts():
    acc, members, links, sync = _world(blocks_hydra=6)
    strong = pd.DataFrame({"account_id": [f"h{i}" for i in range(10)], "ktype": "ip_block", "k": "10.9.8", "n": 5})
    keys = pd.DataFrame({"account_id": ["h0", "h1"], "ktype": "user_agent", "k": "curl/8", "n": 1})
    cfg = TrafficConfig(logs=("x",))
    t = cluster_table(acc, members, links, strong, keys, sync, pd.DataFrame(), cfg)
    row = t[t["flagged"]].iloc[0]
    d = describe(row, members, acc, pd.DataFrame(columns=["account_id", "prompt"]), links, strong, keys)
    text = " ".join(d["evidence"])
    assert "'10.9.8' by 10 accounts" in text and "curl/8" in text and "50%" in text
    assert "30.0× as long as prompts" in text and "3.0× their mean" in text
    assert d["members"] == sorted(f"h{i}" for i in range(10)) and d["accounts"] == 10
