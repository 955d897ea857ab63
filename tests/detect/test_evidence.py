"""Community scoring: extraction is required; repeated questions (a class, a lab) are spared."""

import pandas as pd
import pytest

from distill.detect.evidence import COMMUNITY_WEIGHTS, community_table, describe
from distill.detect.traffic import TrafficConfig


def _world():
    ids = [f"c{i}" for i in range(10)] + [f"h{i}" for i in range(10)] + [f"b{i}" for i in range(10)] + ["s0", "s1"]
    comp = [0] * 10 + [1] * 10 + [2] * 10 + [3] * 2
    acc = pd.DataFrame({
        "n_req": 50, "n_days": 5, "s": 0.8, "e_extract": [1.0] * 20 + [0.0] * 10 + [1.0] * 2, "e_rotation": 0.9,
        "e_volume": 0.0, "e_wave": 0.0, "e_meta": 0.0, "human": False, "n_hit": [12] * 10 + [20] * 10 + [0] * 10 + [20] * 2, "n_seen": 40, "n_dup": 0, "n_blocks_own": 30,
        "n_launch_day": 0, "n_launch_day_new": 0}, index=pd.Index(ids, name="account_id"))
    members = pd.DataFrame({"account_id": ids, "comp": comp})
    e = pd.DataFrame({"a": ids[:-1], "b": ids[1:], "weight": 1.0, "kinds": "payment"})
    e = e[pd.Series(comp[:-1]) == pd.Series(comp[1:])]
    sync = pd.DataFrame({"comp": [0, 1, 2, 3], "sync_share": 0.0, "burst_windows": 0})
    # c*: every question asked by two accounts (a class); h*: all different (a campaign)
    repeats = pd.DataFrame({"account_id": ids[:20], "repeated": [True] * 10 + [False] * 10})
    # students move between campus, home and phone networks, but do not take a fresh one per request
    acc.loc[ids[:10], "e_rotation"] = 0.3
    return acc, members, e, sync, repeats


def test_flags_need_extraction_size_and_new_questions():
    acc, members, e, sync, repeats = _world()
    cfg = TrafficConfig(logs=("x",), flag_score=0.6)
    t = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats).set_index("comp")
    assert not t.loc[0, "flagged"]  # extraction and an operating sign, but its questions repeat across accounts
    assert t.loc[0, "operational"] == pytest.approx(0.3) and t.loc[0, "score"] >= cfg.flag_score
    everyone_new = repeats.assign(repeated=False)
    t0 = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, everyone_new).set_index("comp")
    assert t0.loc[0, "flagged"]  # the repeats alone spared it
    assert t.loc[1, "flagged"] and t.loc[1, "cluster"] == "op001"
    assert not t.loc[2, "flagged"]  # rotation and links, no extraction: not a distillation campaign
    assert not t.loc[3, "flagged"]  # two accounts: below min_accounts
    links = 9 * 1.0 / 10  # 9 internal edges of weight 1 over 10 members, /2 → 0.45
    # pooled extraction: 200 of 400 prompts, Wilson lower bound 0.451 ≫ 2 × background 0.01 → strength 1
    want = 1 - (1 - COMMUNITY_WEIGHTS["members"] * 0.8) * (1 - COMMUNITY_WEIGHTS["extract"] * 1.0) * (
        1 - COMMUNITY_WEIGHTS["links"] * links / 2) * (1 - COMMUNITY_WEIGHTS["size"] * 0.5)
    assert t.loc[1, "score"] == pytest.approx(want, abs=1e-6)


def test_repeats_spare_established_groups_and_benchmark_reruns_only():
    acc, members, e, sync, repeats = _world()
    cfg = TrafficConfig(logs=("x",), flag_score=0.6)
    acc.loc[[f"c{i}" for i in range(10)], "e_wave"] = 0.8  # the repeating group came as a wave of new accounts
    t = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats).set_index("comp")
    assert t.loc[0, "flagged"]  # one probe list fired from a wave of new accounts: a campaign
    for change in ("rotation", "sync"):
        acc, members, e, sync, repeats = _world()
        if change == "rotation":  # a fresh network for nearly every request
            acc.loc[[f"c{i}" for i in range(10)], "e_rotation"] = 0.9
        else:  # most requests in the same five-minute bursts as the other accounts: a scheduler
            sync.loc[sync["comp"] == 0, "sync_share"] = 0.8
        t = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats).set_index("comp")
        assert t.loc[0, "flagged"], change
    acc, members, e, sync, repeats = _world()
    h = [f"h{i}" for i in range(10)]
    acc.loc[h, "n_dup"], acc.loc[h, "n_blocks_own"] = 20, 1  # half its prompts re-sent, from its own machine: a benchmark re-run
    t = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats).set_index("comp")
    assert t.loc[1, "self_repeat"] == pytest.approx(0.5) and not t.loc[1, "flagged"]
    acc.loc[h, "n_blocks_own"] = 30  # the same repeats through a proxy pool: a sweep cycling templates
    t = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats).set_index("comp")
    assert t.loc[1, "flagged"]


def test_evidence_sentences_name_the_facts():
    acc, members, e, sync, repeats = _world()
    cfg = TrafficConfig(logs=("x",), flag_score=0.6)
    t = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats)
    row = t[t["flagged"]].iloc[0]
    keys = pd.DataFrame({"account_id": ["h0", "h1"], "ktype": "user_agent", "k": "curl/8", "n": 1})
    prompts = pd.DataFrame({"account_id": ["h1", "h0"], "rn": [1, 1], "prompt": ["second", "first"]})
    d = describe(row, [f"h{i}" for i in range(10)], acc, prompts, e, keys)
    text = " ".join(d["evidence"])
    assert "'curl/8' by 2 members" in text and "50% of the members' prompts" in text
    assert "0% of those prompts were sent word for word" in text
    assert d["members"] == sorted(f"h{i}" for i in range(10)) and d["accounts"] == 10
    assert d["example_prompts"] == ["first", "second"]  # account order, not input order
    assert "What those prompts are after" not in text  # no goal counts, no sentence
    from distill.detect.prompts import GOALS

    goals = pd.DataFrame(0, index=acc.index, columns=[f"n_goal_{g}" for g in GOALS])
    goals.loc[[f"h{i}" for i in range(10)], ["n_goal_agentic", "n_goal_coding"]] = [3, 1]
    d = describe(row, [f"h{i}" for i in range(10)], acc.join(goals), prompts, e, keys)
    assert "What those prompts are after: agentic 75%, coding 25%" in " ".join(d["evidence"])


def test_dominant_extraction_flags_without_an_operating_sign_unless_from_its_own_network():
    """A careful operator at human volumes on residential proxies shows no rotation, volume, wave or
    synchrony; a pooled extraction share whose Wilson lower bound is ≥ 0.35 flags it by itself. The
    same share from one or two networks per account (a lab) does not, nor does a share of 25%."""
    cfg = TrafficConfig(logs=("x",), flag_score=0.6)
    h = [f"h{i}" for i in range(10)]

    def flagged(n_hit, blocks):
        acc, members, e, sync, repeats = _world()
        acc["e_rotation"] = 0.0
        acc.loc[h, "n_hit"], acc.loc[h, "n_blocks_own"] = n_hit, blocks
        t = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats)
        row = t.set_index("comp").loc[1]
        assert row["operational"] == 0.0
        return bool(row["flagged"]), float(row["extract_lcb"])

    ok, lcb = flagged(20, 30)  # 200 of 400 prompts: Wilson lower bound 0.451
    assert ok and lcb == pytest.approx(0.451, abs=1e-3)
    assert flagged(20, 0) == (True, pytest.approx(lcb))  # all through privacy relays: no own block either
    assert flagged(20, 1)[0] is False and flagged(20, 2)[0] is False  # its own one or two networks: a lab
    ok, lcb = flagged(10, 30)  # 25%: lower bound 0.21, within reach of an ordinary group
    assert not ok and lcb == pytest.approx(0.210, abs=1e-3)


def test_an_operator_linked_to_a_class_is_split_out_and_scored_alone():
    from distill.detect.evidence import split_by_repeats

    acc, members, e, sync, _ = _world()
    cfg = TrafficConfig(logs=("x",), flag_score=0.6)
    c, h = [f"c{i}" for i in range(10)], [f"h{i}" for i in range(10)]
    acc.loc[h, ["e_rotation", "e_volume"]] = 0.3, 0.5  # machine volumes, no fresh network per request
    members.loc[members["account_id"].isin(h), "comp"] = 0  # linked to the class (a shared network, say)
    repeats = pd.DataFrame({"account_id": [a for a in c for _ in range(6)] + [a for a in h for _ in range(4)],
                            "repeated": [True] * 60 + [False] * 40})
    t = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats).set_index("comp")
    assert t.loc[0, "class_like"] and t.loc[0, "repeated"] == pytest.approx(0.6) and not t.loc[0, "flagged"]
    moved = split_by_repeats(t.reset_index(), members, repeats)
    assert sorted(moved.loc[moved["comp"] == 4, "account_id"]) == sorted(h)  # after the largest comp id, 3
    assert (moved.loc[moved["account_id"].isin(c), "comp"] == 0).all()
    t2 = community_table(acc, moved, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats).set_index("comp")
    assert t2.loc[4, "flagged"] and t2.loc[4, "repeated"] == 0  # the operator, on its own evidence
    assert not t2.loc[0, "flagged"] and t2.loc[0, "repeated"] == 1  # the class, still spared
    assert split_by_repeats(t2.reset_index(), moved, repeats) is None  # nothing left to move
    few = repeats[~repeats["account_id"].isin(h) | ~repeats.duplicated("account_id")]  # one prompt each: too few to judge
    assert split_by_repeats(t.reset_index(), members, few) is None


def test_students_linked_to_a_campaign_are_split_out_and_spared():
    from distill.detect.evidence import split_by_repeats

    acc, members, e, sync, _ = _world()
    cfg = TrafficConfig(logs=("x",), flag_score=0.6)
    c, h = [f"c{i}" for i in range(10)], [f"h{i}" for i in range(10)]
    members.loc[members["account_id"].isin(c), "comp"] = 1  # students in the operator's community (rotation 0.9)
    repeats = pd.DataFrame({"account_id": [a for a in c for _ in range(4)] + [a for a in h for _ in range(6)],
                            "repeated": [True] * 40 + [False] * 60})
    t = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats).set_index("comp")
    assert t.loc[1, "flagged"] and not t.loc[1, "class_like"] and t.loc[1, "repeated"] == pytest.approx(0.4)
    moved = split_by_repeats(t.reset_index(), members, repeats)
    assert sorted(moved.loc[moved["comp"] == 4, "account_id"]) == sorted(c)
    t2 = community_table(acc, moved, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats).set_index("comp")
    assert t2.loc[1, "flagged"] and t2.loc[1, "size"] == 10  # the operator keeps its flag
    assert t2.loc[4, "repeated"] == 1 and t2.loc[4, "class_like"] and not t2.loc[4, "flagged"]  # spared once apart
    acc.loc[c, "e_rotation"] = 0.9  # repeaters on a fresh network per request are no class: still flagged apart
    t3 = community_table(acc, moved, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, repeats).set_index("comp")
    assert not t3.loc[4, "class_like"] and t3.loc[4, "flagged"]
    one_list = repeats.assign(repeated=True)  # every account repeats: one probe list, nothing to split
    t4 = community_table(acc, members, e, sync, pd.Series(dtype=float), pd.DataFrame(), cfg, one_list)
    assert split_by_repeats(t4, members, one_list) is None


def test_a_split_is_kept_only_where_the_parts_verdicts_differ():
    from distill.detect.evidence import keep_splits

    before = pd.DataFrame({"account_id": [f"a{i}" for i in range(6)], "comp": [0, 0, 0, 1, 1, 1]})
    after = before.assign(comp=[0, 0, 2, 1, 3, 3])  # a2 moved out of 0 into 2; a4, a5 out of 1 into 3
    comms = pd.DataFrame({"comp": [0, 1, 2, 3], "flagged": [True, False, False, False]})
    kept = keep_splits(before, after, comms)
    assert kept["comp"].tolist() == [0, 0, 2, 1, 1, 1]  # 0 | 2 differ: kept; 1 | 3 both spared: one population
    assert keep_splits(before, after, comms.assign(flagged=[True, True, True, True])) is None
    assert keep_splits(before, after, comms.assign(flagged=[False, True, False, False]))["comp"].tolist() == [0, 0, 0, 1, 3, 3]


def _goal_world(mix_a, mix_b, n=10):
    """Two groups of n flagged accounts in one community, with their extraction prompts per goal."""
    from distill.detect.prompts import GOALS

    ids = [f"a{i}" for i in range(n)] + [f"b{i}" for i in range(n)]
    counts = pd.DataFrame([mix_a] * n + [mix_b] * n, columns=[f"n_goal_{g}" for g in GOALS],
                          index=pd.Index(ids, name="account_id")).fillna(0)
    members = pd.DataFrame({"account_id": ids, "comp": 0})
    comms = pd.DataFrame({"comp": [0], "flagged": [True]})
    return comms, members, counts


def test_operators_with_different_goals_are_split_and_mixed_ones_are_not():
    from distill.detect.evidence import split_by_goal

    # agentic harvest (8 of 10 prompts agentic) and a topic sweep (9 of 10 sweep), linked by a proxy network
    comms, members, acc = _goal_world([8, 1, 0, 0, 1, 0], [0, 0, 0, 1, 0, 9])
    out = split_by_goal(comms, members, acc, min_accounts=5)
    assert sorted(out.loc[out["comp"] == 1, "account_id"]) == [f"b{i}" for i in range(10)]  # after comp 0
    assert (out.loc[out["account_id"].str.startswith("a"), "comp"] == 0).all()
    # each account mixing reasoning and chain-of-thought 6:4 / 4:6: one operator (or the classifier's confusion)
    comms, members, acc = _goal_world([0, 0, 4, 0, 6, 0], [0, 0, 6, 0, 4, 0])
    assert split_by_goal(comms, members, acc, min_accounts=5) is None
    # a second goal held by fewer than min_accounts accounts: no part of its own
    comms, members, acc = _goal_world([8, 1, 0, 0, 1, 0], [0, 0, 0, 1, 0, 9], n=4)
    assert split_by_goal(comms, members, acc, min_accounts=5) is None
    # unflagged communities and accounts with too few extraction prompts to judge are left alone
    comms, members, acc = _goal_world([8, 1, 0, 0, 1, 0], [0, 0, 0, 1, 0, 9])
    assert split_by_goal(comms.assign(flagged=False), members, acc, min_accounts=5) is None
    assert split_by_goal(comms, members, acc // 3, min_accounts=5) is None  # 3 prompts each, below 5


def test_accounts_without_a_clear_goal_join_the_nearest_part():
    from distill.detect.evidence import split_by_goal

    comms, members, acc = _goal_world([8, 1, 0, 0, 1, 0], [0, 0, 0, 1, 0, 9])
    extra = pd.DataFrame([[0, 0, 0, 0, 0, 2], [1, 0, 0, 0, 0, 0], [0] * 6], columns=acc.columns,
                         index=pd.Index(["x0", "x1", "x2"], name="account_id"))  # 2 sweep, 1 agentic, none
    acc = pd.concat([acc, extra])
    members = pd.concat([members, pd.DataFrame({"account_id": ["x0", "x1", "x2"], "comp": 0})], ignore_index=True)
    out = split_by_goal(comms, members, acc, min_accounts=5).set_index("account_id")["comp"]
    assert out["x0"] == 1 and out["x1"] == 0 and out["x2"] == 0  # nearest mix; no prompts: the largest part (tie → first goal)


def test_a_goal_split_is_kept_only_where_every_part_stays_flagged():
    from distill.detect.evidence import keep_flagged_splits

    before = pd.DataFrame({"account_id": [f"a{i}" for i in range(8)], "comp": [0, 0, 0, 0, 1, 1, 1, 1]})
    after = before.assign(comp=[0, 0, 2, 2, 1, 1, 3, 3])
    comms = pd.DataFrame({"comp": [0, 1, 2, 3], "flagged": [True, True, True, False]})
    kept = keep_flagged_splits(before, after, comms)
    assert kept["comp"].tolist() == [0, 0, 2, 2, 1, 1, 1, 1]  # comp 1's part 3 lost the flag: comp 1 stays whole
    assert keep_flagged_splits(before, after, comms.assign(flagged=[True, True, False, False])) is None


def test_pieces_of_one_goal_linked_densely_are_joined_and_other_goals_are_not():
    from distill.detect.evidence import merge_by_goal
    from distill.detect.prompts import GOALS

    # three flagged communities of 4 accounts: 0 and 1 both reasoning harvests, 2 a sweep
    ids = [f"a{i}" for i in range(12)]
    members = pd.DataFrame({"account_id": ids, "comp": [0] * 4 + [1] * 4 + [2] * 4})
    cols = [f"n_goal_{g}" for g in GOALS]
    reasoning, sweep = [0, 0, 1, 0, 9, 0], [0, 0, 1, 0, 0, 9]
    acc = pd.DataFrame([reasoning] * 8 + [sweep] * 4, columns=cols, index=pd.Index(ids, name="account_id"))
    acc = acc.assign(e_rotation=0.4, e_volume=0.0, n_req=8, n_days=4, n_blocks_own=4)  # operated alike
    comms = pd.DataFrame({"comp": [0, 1, 2], "flagged": [True, True, True]})

    def cross(x, y, w):  # every pair between communities x and y linked with weight w
        return [(a, b, w) for a in ids[4 * x:4 * x + 4] for b in ids[4 * y:4 * y + 4]]

    e = pd.DataFrame(cross(0, 1, 0.45) + cross(1, 2, 0.45), columns=["a", "b", "weight"])
    out = merge_by_goal(comms, members, e, acc)  # 0.45 per pair ≥ 0.8 × 0.5: 0 and 1 join; 2 has another goal
    assert out["comp"].tolist() == [0] * 8 + [2] * 4
    thin = e.assign(weight=0.3)  # linked, but more thinly than one community is: kept apart
    assert merge_by_goal(comms, members, thin, acc) is None
    assert merge_by_goal(comms.assign(flagged=[True, False, True]), members, e, acc) is None  # only flagged ones
    mixed = acc.copy()
    mixed.loc[ids[4:8], cols] = [0, 0, 5, 0, 5, 0]  # community 1 has no clear goal (50/50): not joined
    assert merge_by_goal(comms, members, e, mixed) is None
    # one goal, linked as densely, but set up otherwise: two operators, kept apart
    for col, value in (("e_rotation", 0.95), ("e_volume", 0.5), ("n_req", 40), ("n_blocks_own", 40)):
        other = acc.copy()
        other.loc[ids[4:8], col] = value
        assert merge_by_goal(comms, members, e, other) is None, col


def test_goals_an_operator_mixes_stay_together_while_other_goals_split_off():
    from distill.detect.evidence import split_by_goal
    from distill.detect.prompts import GOALS

    # one community: a sweep operator whose accounts lean sweep or probe (each mixing both) and an agentic one
    cols = [f"n_goal_{g}" for g in GOALS]
    rows = [[0, 1, 0, 4, 0, 5]] * 6 + [[0, 1, 0, 5, 0, 4]] * 6 + [[9, 0, 1, 0, 0, 0]] * 6
    ids = [f"s{i}" for i in range(12)] + [f"a{i}" for i in range(6)]
    acc = pd.DataFrame(rows, columns=cols, index=pd.Index(ids, name="account_id"))
    members = pd.DataFrame({"account_id": ids, "comp": 0})
    comms = pd.DataFrame({"comp": [0], "flagged": [True]})
    out = split_by_goal(comms, members, acc, min_accounts=5).set_index("account_id")["comp"]
    assert (out[ids[:12]] == 0).all() and (out[ids[12:]] == 1).all()  # sweep+probe one part; agentic its own
