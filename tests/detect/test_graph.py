"""The account graph: edges weighed by how rare the shared key is; Leiden keeps operators apart."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("leidenalg")

from distill.detect import graph  # noqa: E402


def _keys(rows):
    return pd.DataFrame(rows, columns=["account_id", "ktype", "k", "n_accounts"])


def test_edge_weight_is_kind_weight_times_rarity():
    keys = _keys([("a", "payment", "p", 2), ("b", "payment", "p", 2),
                  ("a", "ip_block", "nat", 500), ("b", "ip_block", "nat", 500)])
    e = graph.edges(keys, n_total=1000)
    assert e[["a", "b"]].values.tolist() == [["a", "b"]]
    # payment used by 2 of 1000 accounts: 1.0 · ln(500)/ln(1000); the block used by 500: 0.5 · ln(2)/ln(1000)
    want = 1.0 * np.log(1000 / 2) / np.log(1000) + 0.5 * np.log(1000 / 500) / np.log(1000)
    assert e["weight"].iloc[0] == pytest.approx(want)
    assert e["kinds"].iloc[0] == "ip_block+payment"


def test_a_key_everybody_uses_links_nobody():
    keys = _keys([(f"u{i}", "system_prompt", "You are a helpful assistant.", 1000) for i in range(5)])
    assert graph.edges(keys, n_total=1000).empty  # log(N / N) = 0


def _two_operators(shared_block_users: int = 5000):
    rows = []
    for op in ("x", "y"):
        for i in range(12):
            rows.append((f"{op}{i:02d}", "payment", f"card-{op}-{i // 4}", 4))  # cards shared within the operator
            rows.append((f"{op}{i:02d}", "template", f"tpl-{op}", 12))
            rows.append((f"{op}{i:02d}", "ip_block", "proxy-provider", shared_block_users))  # one provider for both
    return _keys(rows)


def test_leiden_keeps_apart_operators_that_share_a_proxy_provider():
    keys = _two_operators()
    members = graph.communities(sorted(set(keys["account_id"])), graph.edges(keys, n_total=20_000))
    comp = members.set_index("account_id")["comp"]
    assert comp[[f"x{i:02d}" for i in range(12)]].nunique() == 1
    assert comp[[f"y{i:02d}" for i in range(12)]].nunique() == 1
    assert comp["x00"] != comp["y00"]  # a connected-components view would merge them through the block


def test_communities_do_not_depend_on_row_order():
    keys = _two_operators()
    a = graph.communities(sorted(set(keys["account_id"])), graph.edges(keys, n_total=20_000))
    shuffled = keys.sample(frac=1.0, random_state=3)
    b = graph.communities(list(reversed(sorted(set(keys["account_id"])))), graph.edges(shuffled, n_total=20_000))
    pd.testing.assert_frame_equal(a, b)


def test_a_large_key_links_each_holder_to_a_bounded_number_of_others():
    m = 500
    keys = _keys([(f"a{i:03d}", "payment", "p", m) for i in range(m)])
    e = graph.edges(keys, n_total=100_000)
    deg = pd.concat([e["a"], e["b"]]).value_counts()
    assert 0.95 * m * graph.CLIQUE // 2 <= len(e) <= m * graph.CLIQUE // 2  # a pair drawn twice counts once
    assert deg.max() <= graph.CLIQUE and deg.min() >= 0.8 * graph.CLIQUE
    assert graph.edges(keys.iloc[::-1], n_total=100_000).equals(e)  # the seeded order, not the input's


def test_sync_share_finds_bursts():
    b = pd.DataFrame({"comp": [0] * 12, "bucket": range(12), "active": [2] * 10 + [40, 45], "n": [2] * 10 + [80, 90]})
    s = graph.sync_share(b).iloc[0]
    assert s["burst_windows"] == 2 and s["sync_share"] == pytest.approx(170 / 190)


def test_coactivity_high_for_accounts_that_fire_together():
    hours = np.arange(48)
    on = (hours % 6 == 0)
    together = pd.DataFrame([(f"t{i}", h, 10 * int(on[h]) + 1) for i in range(5) for h in hours],
                            columns=["account_id", "h", "n"])
    rng = np.random.default_rng(0)
    apart = pd.DataFrame([(f"p{i}", h, int(rng.poisson(3))) for i in range(5) for h in hours],
                         columns=["account_id", "h", "n"])
    members = pd.DataFrame({"account_id": [f"t{i}" for i in range(5)] + [f"p{i}" for i in range(5)],
                            "comp": [0] * 5 + [1] * 5})
    c = graph.coactivity(pd.concat([together, apart]), members)
    assert c[0] > 0.95 and abs(c[1]) < 0.4


def test_a_large_operator_sharing_one_key_stays_one_community():
    # 300 accounts of one operator share one payment id (rarity ln(1e6/300)/ln(1e6) ≈ 0.59, weight ≈ 0.59):
    # the ring sample gives each holder only CLIQUE neighbours, so without carrying the clique's mass
    # (each sampled edge × (m − 1) / CLIQUE) the CPM at resolution 0.5 cuts the operator into ~CLIQUE-sized pieces
    m = 300
    keys = _keys([(f"a{i:03d}", "payment", "p", m) for i in range(m)])
    e = graph.edges(keys, n_total=1_000_000)
    rarity = np.log(1_000_000 / m) / np.log(1_000_000)
    assert e["weight"].iloc[0] == pytest.approx(rarity * (m - 1) / graph.CLIQUE)
    members = graph.communities(sorted(set(keys["account_id"])), e,
                                groups=graph.strong_groups(keys, n_total=1_000_000))
    assert members["comp"].nunique() == 1
    assert graph.communities(sorted(set(keys["account_id"])), e)["comp"].nunique() > 1  # what the sample alone gives


def test_two_large_operators_sharing_a_common_proxy_block_stay_apart():
    rows = []
    for op in ("x", "y"):
        for i in range(150):
            rows.append((f"{op}{i:03d}", "payment", f"card-{op}", 150))
            rows.append((f"{op}{i:03d}", "ip_block", "proxy-provider", 20_000))  # used by a fifth of all accounts
    keys = _keys(rows)
    members = graph.communities(sorted(set(keys["account_id"])), graph.edges(keys, n_total=100_000),
                                groups=graph.strong_groups(keys, n_total=100_000))
    comp = members.set_index("account_id")["comp"]
    assert comp[comp.index.str.startswith("x")].nunique() == 1 and comp[comp.index.str.startswith("y")].nunique() == 1
    assert comp["x000"] != comp["y000"]


def test_a_common_key_does_not_multiply_a_rare_one():
    # 200 candidates share a common system prompt (sampled: mass 199/40); two of them also share a rare one.
    # The pair's system-prompt weight is 0.4 · (1 − (1 − r_rare)(1 − r_common)) at the rare key's mass (1), not ×5
    rows = [(f"a{i:03d}", "system_prompt", "common", 5000) for i in range(200)]
    rows += [("a000", "system_prompt", "rare", 2), ("a001", "system_prompt", "rare", 2)]
    e = graph.edges(_keys(rows), n_total=10_000).set_index(["a", "b"])
    r_rare, r_common = graph.rarity([2, 5000], 10_000)
    # (whether the sample of the common key drew this pair too decides whether r_common adds in)
    assert e.loc[("a000", "a001"), "weight"] in (pytest.approx(0.4 * (1 - (1 - r_rare) * (1 - r_common))),
                                                 pytest.approx(0.4 * r_rare))
    others = e.drop(index=("a000", "a001"), errors="ignore")["weight"]
    assert others.to_numpy() == pytest.approx(0.4 * r_common * 199 / graph.CLIQUE)


def test_strong_groups_come_from_identity_keys_only():
    rows = [(f"a{i}", "payment", "card", 3) for i in range(3)] + [(f"b{i}", "payment", "card2", 2) for i in range(2)]
    rows += [(f"a{i}", "rotation_day", "d1", 5) for i in range(3)] + [(f"b{i}", "rotation_day", "d1", 5) for i in range(2)]
    rows += [("c0", "payment", "shared-by-many", 5000), ("c1", "payment", "shared-by-many", 5000)]
    g = graph.strong_groups(_keys(rows), n_total=10_000).set_index("account_id")["group"]
    # the cards make two groups; the common first day (a coincidence key) does not join them; a card
    # held by half of all accounts is too common (1.0 · ln 2 / ln 1e4 < 0.5) to hold anybody
    assert g.to_dict() == {"a0": "a0", "a1": "a0", "a2": "a0", "b0": "b0", "b1": "b0"}


def test_expand_candidates_brings_in_holders_of_a_key_mostly_held_by_candidates():
    rows = [(f"op{i}", "payment", "card-op", 10) for i in range(10)]  # 8 of its 10 holders are candidates
    rows += [(f"co{i}", "payment", "company-card", 90) for i in range(90)]  # 5 of 90 are candidates
    rows += [(f"u{i}", "user_agent", "ua-op", 4) for i in range(4)]  # not a kind that brings anybody in
    keys = _keys(rows)
    cand = [f"op{i}" for i in range(8)] + [f"co{i}" for i in range(5)] + ["u0", "u1", "u2"]
    assert graph.expand_candidates(keys, cand, n_total=10_000) == ["op8", "op9"]
    # a key held by half of all accounts is not rare, however many of its holders are candidates
    assert graph.expand_candidates(keys, cand, n_total=20) == []
