"""The account graph: candidate accounts linked by what they share, weighed by how rare it is.

A key is anything two accounts can have in common: an IP block, a payment id, a system prompt, a
user agent, a prompt template (``content.py``), the hour their account first appeared. Only
*candidate* accounts (individually suspicious, ``accounts.py``) are nodes, so a university NAT
shared by hundreds of ordinary users links nobody who is not suspicious already.

The edge between two holders weighs, for each kind of key they share, ``kind weight × (1 − Π (1 −
rarity))`` over the keys of that kind, summed over kinds; rarity is an IDF, ``log(N / n_k) / log(N)``
in [0, 1] for a key used by n_k of all N accounts: a proxy block or a system prompt used by
thousands of accounts is weak evidence, a payment id used by twelve is strong. Within a kind the
evidence saturates (thirty shared proxy blocks say "same proxy pool" once, not thirty times), so
an operator's sub-pools do not outweigh what all its accounts share. Communities are found by the Leiden algorithm (``leidenalg`` on
``igraph``, constant Potts model, fixed seed), which keeps apart operators that a few shared proxy
blocks or templates would merge into one connected component.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

KIND_WEIGHT = {"payment": 1.0, "template": 0.8, "rotation_day": 0.8, "ip_block": 0.5, "system_prompt": 0.4,
               "wave": 0.4, "user_agent": 0.2}
RESOLUTION = 0.5  # of the CPM (edge-weight units; see communities): strong_groups, communities, evidence.merge_by_goal
CLIQUE = 40  # a key held by more candidates links each to ~CLIQUE others (a bounded, seeded sample)
RINGS = 4  # independent seeded orders the sample is drawn from
# keys that name one owner (a payment instrument); the others (first-seen hour or day, a proxy block,
# a user agent) are coincidences that unrelated accounts share, and prompt-template clusters (connected
# components of near-duplicate pairs) can chain two operators' similar templates into one
IDENTITY_KINDS = ("payment",)


def _order(ids: np.ndarray, salt: str) -> np.ndarray:
    """A permutation of ``ids`` fixed by their names and ``salt`` (no global random state)."""
    h = [hashlib.blake2b(f"{salt}\x00{a}".encode("utf-8", "surrogatepass"), digest_size=8).digest() for a in ids]
    return np.argsort(np.array(h, dtype="S8"), kind="stable")


def edges(keys: pd.DataFrame, n_total: int) -> pd.DataFrame:
    """Weighted undirected edges (a < b by code) from shared keys.

    Args:
        keys: account_id, ktype, k, n_accounts (holders among all accounts); candidates only.
        n_total: number of accounts in the logs (N of the IDF).

    Returns:
        DataFrame (a, b, weight, kinds): a, b account ids with a < b; kinds a sorted '+'-joined list.
    """
    if keys.empty:
        return pd.DataFrame(columns=["a", "b", "weight", "kinds"])
    keys = keys[keys["ktype"].isin(KIND_WEIGHT.keys())]
    keys = keys.sort_values(["ktype", "k", "account_id"], kind="stable")
    logn = np.log(max(n_total, 3))
    rows = []
    for (ktype, k), g in keys.groupby(["ktype", "k"], sort=True):
        ids = g["account_id"].to_numpy()
        m = len(ids)
        if m < 2:
            continue
        w = max(0.0, np.log(max(n_total, 3) / max(int(g["n_accounts"].iloc[0]), m)) / logn)  # rarity
        if w <= 0:
            continue
        if m <= CLIQUE:
            i, j = np.triu_indices(m, 1)
            a, b = ids[i], ids[j]
            mass = 1.0
        else:  # ring offsets over RINGS seeded orders: every holder linked to ~CLIQUE others, O(m) edges;
            # several orders, not one, so the sample has no arcs along which a clustering could cut it
            off = np.arange(1, CLIQUE // (2 * RINGS) + 1)
            i = np.repeat(np.arange(m), len(off))
            a, b = [], []
            for r in range(RINGS):
                o = ids[_order(ids, f"{ktype}:{k}:{r}" if r else f"{ktype}:{k}")]
                a.append(o[i])
                b.append(o[(i + np.tile(off, m)) % m])
            a, b = np.concatenate(a), np.concatenate(b)
            a, b = np.minimum(a, b), np.maximum(a, b)
            pairs = pd.DataFrame({"a": a, "b": b}).drop_duplicates()  # the same pair drawn twice counts once
            a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
            # each sampled edge stands for (m − 1) / CLIQUE pairs of the clique: the holders keep the
            # clique's total weight, so the CPM does not cut a large operator into pieces of ~CLIQUE
            mass = (m - 1) / CLIQUE
        rows.append(pd.DataFrame({"a": np.minimum(a, b), "b": np.maximum(a, b), "weight": w, "kind": ktype,
                                  "mass": mass}))
    if not rows:
        return pd.DataFrame(columns=["a", "b", "weight", "kinds"])
    e = pd.concat(rows, ignore_index=True)
    e = e[e["a"] != e["b"]]
    e["miss"] = np.log1p(-np.minimum(e["weight"].to_numpy(float), 1 - 1e-12))  # log Π (1 − rarity) per kind
    # the mass is that of the pair's rarest key of the kind: a common key's sample must not multiply rare evidence
    e = e.sort_values(["a", "b", "kind", "weight", "mass"], kind="stable")
    per_kind = e.groupby(["a", "b", "kind"], sort=True).agg(miss=("miss", "sum"), mass=("mass", "last")).reset_index()
    per_kind["weight"] = per_kind["kind"].map(KIND_WEIGHT) * -np.expm1(per_kind["miss"]) * per_kind["mass"]
    return (per_kind.groupby(["a", "b"], sort=True)
            .agg(weight=("weight", "sum"), kinds=("kind", lambda s: "+".join(sorted(set(s)))))
            .reset_index())


def rarity(n_holders, n_total: int) -> np.ndarray:
    """The IDF of a key held by ``n_holders`` of ``n_total`` accounts: log(N / n) / log(N), in [0, 1].

    Args:
        n_holders: holders per key (K,).
        n_total: accounts in the logs.

    Returns:
        Rarity per key (K,).
    """
    n = max(n_total, 3)
    return np.clip(np.log(n / np.maximum(np.asarray(n_holders, float), 1)) / np.log(n), 0, 1)


def expand_candidates(keys: pd.DataFrame, cand, kinds=("payment", "system_prompt"), share: float = 0.5,
                      min_candidates: int = 2, n_total: int = 0, min_rarity: float = 0.5) -> list:
    """Accounts that hold a rare key which is mostly held by candidates: one hop out from the candidates.

    An account with a handful of requests has little evidence of its own, but a card or a system
    prompt used by twenty accounts of which fifteen are suspicious names the same owner. Only rare
    keys (rarity ≥ ``min_rarity``) count, and only where most of their holders are candidates, so a
    company card or a course's system prompt, held mostly by people who are not suspicious, brings
    nobody in.

    Args:
        keys: account_id, ktype, k, n_accounts (holders among all accounts), for all accounts.
        cand: the candidate account ids.
        kinds: key kinds that can bring an account in.
        share: least share of a key's holders that are candidates.
        min_candidates: least candidates holding the key.
        n_total: accounts in the logs (N of the rarity).
        min_rarity: least rarity of the key.

    Returns:
        The accounts brought in (not already candidates), sorted.
    """
    cset = set(cand)
    k = keys[keys["ktype"].isin(kinds)]
    if k.empty:
        return []
    k = k.assign(c=k["account_id"].isin(cset))
    per = k.groupby(["ktype", "k"], sort=True).agg(n=("account_id", "size"), c=("c", "sum"))
    per = per[(per["c"] >= min_candidates) & (per["c"] >= share * per["n"])
              & (rarity(per["n"].to_numpy(), n_total) >= min_rarity)]
    if per.empty:
        return []
    held = k.join(per[[]].assign(keep=True), on=["ktype", "k"])
    return sorted(set(held.loc[held["keep"].fillna(False).astype(bool) & ~held["c"], "account_id"]))


def strong_groups(keys: pd.DataFrame, n_total: int, resolution: float = RESOLUTION) -> pd.DataFrame:
    """Holders of an identity key (a payment id) strong enough on its own to hold them together.

    Groups overlap-joined: an account holding two such keys joins their groups.

    A key whose weight (kind weight × rarity) reaches the CPM resolution makes its holders a
    community by the CPM's own standard, had every pair been an edge. Large keys are sampled
    (``edges``), and a sparse random sample of a clique has denser and thinner parts that the CPM
    would cut apart; the Leiden search treats each group as one node of its size, so it stays whole.

    Args:
        keys: account_id, ktype, k, n_accounts (holders among all accounts).
        n_total: accounts in the logs.
        resolution: the CPM resolution (edge-weight units).

    Returns:
        DataFrame (account_id, group): group named by its first account id; accounts without a
        strong key left out.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cols = ["account_id", "group"]
    if keys.empty:
        return pd.DataFrame(columns=cols)
    k = keys[keys["ktype"].isin(IDENTITY_KINDS)]
    w = k["ktype"].map(KIND_WEIGHT).to_numpy(float) * rarity(np.maximum(k["n_accounts"].to_numpy(float), 2), n_total)
    k = k[w >= resolution]
    k = k[k.groupby(["ktype", "k"])["account_id"].transform("size") >= 2]
    if k.empty:
        return pd.DataFrame(columns=cols)
    ids = np.array(sorted(set(k["account_id"])), dtype=object)
    kid = pd.factorize(k["ktype"].astype(str) + "\x00" + k["k"].astype(str), sort=True)[0]
    pos = pd.Index(ids).get_indexer(k["account_id"])
    n = len(ids) + int(kid.max()) + 1  # accounts, then keys: a bipartite graph
    g = coo_matrix((np.ones(len(k)), (pos, len(ids) + kid)), shape=(n, n))
    _, label = connected_components(g, directed=False)
    label = label[: len(ids)]
    first = pd.Series(ids).groupby(label).transform("min").to_numpy()
    return pd.DataFrame({"account_id": ids, "group": first})


def communities(nodes, e: pd.DataFrame, min_weight: float = 0.1, seed: int = 0,
                resolution: float = RESOLUTION, groups: pd.DataFrame | None = None) -> pd.DataFrame:
    """Leiden communities of the candidate graph (edges lighter than ``min_weight`` dropped).

    The constant Potts model (CPM), not modularity: modularity compares a group's internal weight
    with what the *whole graph's* degrees predict, so beside one large heavily linked operator two
    small operators that share only a template merge (the resolution limit). CPM asks of every
    community that its pairs share, on average, evidence of weight ≥ ``resolution`` (in edge-weight
    units: 0.5 is a payment id held by a few hundred accounts, or an IP block plus a template), so
    operators are kept apart by what they do not share, whatever else is in the graph.

    Args:
        nodes: the candidate account ids (duplicates ignored).
        e: edges, columns a, b (account ids among ``nodes``), weight.
        min_weight: edges lighter than this are dropped before clustering.
        seed: seed of the Leiden search.
        resolution: CPM resolution, in edge-weight units (see above).
        groups: optional (account_id, group) (:func:`strong_groups`): each group is kept whole, one
            node of its size in the CPM; other nodes are on their own.

    Returns:
        DataFrame (account_id, comp): every node; comp numbered by size (largest 0), ties by first member.
    """
    import igraph as ig
    import leidenalg

    nodes = sorted(set(nodes))
    e = e[e["weight"] >= min_weight] if len(e) else e
    if not nodes:
        return pd.DataFrame(columns=["account_id", "comp"])
    # each strong group is one node of the size of the group (the CPM counts node sizes), never split
    unit = pd.Series(nodes, index=nodes, dtype=object)
    if groups is not None and len(groups):
        gr = groups.set_index("account_id")["group"]
        gr = gr[gr.index.isin(unit.index)]
        unit.loc[gr.index] = gr.to_numpy()
    units, code = np.unique(unit.to_numpy().astype(str), return_inverse=True)
    node_code = pd.Series(code, index=nodes)
    sizes = np.bincount(code, minlength=len(units)).tolist()
    if len(e):
        ue = pd.DataFrame({"a": e["a"].map(node_code).to_numpy(), "b": e["b"].map(node_code).to_numpy(),
                           "w": e["weight"].astype(float).to_numpy()})
        ue = ue[ue["a"] != ue["b"]]
        ue = ue.assign(lo=np.minimum(ue["a"], ue["b"]), hi=np.maximum(ue["a"], ue["b"]))
        ue = ue.groupby(["lo", "hi"], sort=True)["w"].sum().reset_index()
    else:
        ue = pd.DataFrame(columns=["lo", "hi", "w"])
    g = ig.Graph(n=len(units), edges=list(zip(ue["lo"].astype(int), ue["hi"].astype(int), strict=True)))
    g.es["weight"] = ue["w"].astype(float).tolist()
    part = leidenalg.find_partition(g, leidenalg.CPMVertexPartition, weights="weight" if len(ue) else None,
                                    node_sizes=sizes, resolution_parameter=resolution, seed=seed, n_iterations=-1)
    membership = np.asarray(part.membership)[code]
    label = membership
    m = pd.DataFrame({"account_id": nodes, "raw": label})
    stats = m.groupby("raw").agg(size=("account_id", "size"), first=("account_id", "min"))
    stats = stats.sort_values(["size", "first"], ascending=[False, True], kind="stable")
    renum = pd.Series(np.arange(len(stats)), index=stats.index)
    return pd.DataFrame({"account_id": nodes, "comp": renum.loc[label].to_numpy()})


def sync_share(buckets: pd.DataFrame, factor: float = 5.0) -> pd.DataFrame:
    """Share of each community's requests in its synchronized bursts.

    ``buckets``: comp, bucket, active (distinct members active in that 5-minute window), n.
    A burst window has ≥ ``factor`` × the community's median number of active members (and ≥ 3):
    independent people drift through the day; orchestrated accounts fire together.

    Args:
        buckets: see above.
        factor: how many times the median number of active members makes a burst.

    Returns:
        Columns comp, sync_share (in [0, 1]), burst_windows (count).
    """
    if buckets.empty:
        return pd.DataFrame(columns=["comp", "sync_share", "burst_windows"])
    buckets = buckets.sort_values(["comp", "bucket"], kind="stable")
    med = buckets.groupby("comp")["active"].transform("median")
    burst = (buckets["active"] >= np.maximum(3, factor * med))
    g = buckets.assign(burst_n=np.where(burst, buckets["n"], 0), burst=burst).groupby("comp")
    out = pd.DataFrame({"sync_share": g["burst_n"].sum() / g["n"].sum(), "burst_windows": g["burst"].sum()})
    return out.reset_index()


def coactivity(hourly: pd.DataFrame, members: pd.DataFrame) -> pd.Series:
    """Per community: mean correlation of its members' hourly volumes with the community's total.

    Accounts run by one operator start and stop together; independent people do not. In [−1, 1]
    (0 for communities of one account or without overlap).

    Args:
        hourly: columns account_id, h (hour), n (requests).
        members: columns account_id, comp.

    Returns:
        Series "coactivity" on comp: each member's hourly volume is correlated with the rest of its
        community's (total minus its own), averaged; at most 300 members (the first by id) are used.
    """
    if hourly.empty or members.empty:
        return pd.Series(dtype=float)
    h = hourly.merge(members, on="account_id")
    out = {}
    for comp, g in h.groupby("comp", sort=True):
        x = g.pivot_table(index="h", columns="account_id", values="n", aggfunc="sum", fill_value=0)
        if x.shape[1] < 2 or x.shape[0] < 3:
            out[comp] = 0.0
            continue
        if x.shape[1] > 300:  # enough members to estimate it; a fixed, sorted choice
            x = x[sorted(x.columns)[:300]]
        tot = x.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # a constant series has no correlation: NaN, skipped
            c = [np.corrcoef(x[a], tot - x[a])[0, 1] for a in x.columns]
        out[comp] = float(np.nanmean(c)) if np.isfinite(c).any() else 0.0
    return pd.Series(out, name="coactivity")
