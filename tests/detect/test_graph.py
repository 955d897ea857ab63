"""The account graph links accounts only through shared keys of two kinds, one infrastructure."""

import pandas as pd
import pytest

pytest.importorskip("scipy")

from distill.detect import graph  # noqa: E402


def _keys(rows):
    return pd.DataFrame(rows, columns=["account_id", "ktype", "k", "n"])


def test_block_plus_template_links_but_content_alone_does_not():
    keys = _keys([
        ("a", "ip_block", "10.0.1", 5), ("b", "ip_block", "10.0.1", 5), ("a", "template", "t:x", 3),
        ("b", "template", "t:x", 3),  # a–b: block + template → linked
        ("c", "system_prompt", "s1", 4), ("d", "system_prompt", "s1", 4), ("c", "template", "t:y", 2),
        ("d", "template", "t:y", 2),  # c–d: system prompt + template (content only) → not linked
        ("e", "payment", "p1", 1), ("f", "payment", "p1", 1),  # e–f: one kind only → not linked
    ])
    susp = pd.Series(True, index=list("abcdef"))
    members, links = graph.components(graph.strong_keys(keys, susp))
    comp = members.set_index("account_id")["comp"]
    assert comp["a"] == comp["b"]
    assert comp["c"] != comp["d"]
    assert comp.get("e") != comp.get("f") or "e" not in comp
    assert links.loc[links["comp"] == comp["a"], "kinds"].tolist() == ["ip_block + template"]


def test_nat_block_shared_with_many_ordinary_users_links_nobody():
    rows = [(f"u{i}", "ip_block", "nat", 10) for i in range(100)]
    rows += [("u1", "template", "t:z", 1), ("u2", "template", "t:z", 1)]
    susp = pd.Series(False, index=[f"u{i}" for i in range(100)])
    susp[["u1", "u2"]] = True  # two suspicious users behind the NAT share a template …
    strong = graph.strong_keys(_keys(rows), susp)
    assert "nat" not in set(strong["k"])  # … but the block is mostly ordinary users: it is no link
    members, links = graph.components(strong)
    assert members["comp"].nunique() == len(members) and links.empty  # nobody linked


def test_sync_share_finds_bursts():
    b = pd.DataFrame({"comp": [0] * 12, "bucket": range(12), "active": [2] * 10 + [40, 45], "n": [2] * 10 + [80, 90]})
    s = graph.sync_share(b).iloc[0]
    assert s["burst_windows"] == 2 and s["sync_share"] == pytest.approx(170 / 190)
