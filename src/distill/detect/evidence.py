"""Per community: the evidence, its strength, the score, the flag, and sentences a reviewer can check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from distill.detect.graph import RESOLUTION

COMMUNITY_WEIGHTS = {"members": 0.8, "extract": 0.6, "links": 0.5, "sync": 0.4, "coactivity": 0.3, "retarget": 0.3, "size": 0.3}


def wilson_lower(share, n) -> np.ndarray:
    """Lower end of the Wilson 95% interval of each share observed in n trials (0 where n = 0).

    Args:
        share: observed shares in [0, 1] (N,).
        n: trials behind each share (N,).

    Returns:
        Lower bounds (N,), in [0, 1].
    """
    from distill.stats import wilson

    return np.array([wilson(round(p * k), int(k))[0] if k > 0 else 0.0
                     for p, k in zip(np.asarray(share, float), np.asarray(n, float), strict=True)])


def _noisy_or(parts: dict) -> np.ndarray:
    out = 1.0
    for k, v in parts.items():
        out = out * (1 - COMMUNITY_WEIGHTS[k] * np.clip(np.asarray(v, float), 0, 1))
    return 1 - out


def community_table(acc, members, e, sync, coact, launches, cfg, repeats=None, background: float = 0.01) -> pd.DataFrame:
    """One row per community of candidate accounts with its evidence strengths, score and flag.

    Args:
        acc: per-account features and strengths (index account_id; e_*, s, n_req, human).
        members: account_id → comp.
        e: graph edges (a, b, weight, kinds).
        sync: comp → sync_share, burst_windows.
        coact: comp → co-activity correlation (a Series on comp).
        launches: unused here (launch-day counts come in ``acc``: n_launch_day, n_launch_day_new).
        cfg: the run's settings; reads ``min_accounts`` and ``flag_score``.
        repeats: account_id, repeated (bool per extraction prompt read: sent word for word by another account).
        background: the population's share of extraction prompts (what an ordinary account shows).

    Returns:
        One row per community: comp, size, requests, the pooled strengths, e_* (weighted parts),
        score, operational, flagged, and cluster ("op001", … for flagged ones, else ""); flagged
        first, then by size. Columns comp, size, score, flagged, cluster only when ``members`` is empty.
    """
    cols = ["comp", "size", "score", "flagged", "cluster"]
    if members.empty:
        return pd.DataFrame(columns=cols)
    m = members.join(acc, on="account_id")
    g = m.groupby("comp", sort=True)
    t = pd.DataFrame({
        "size": g.size(), "requests": g["n_req"].sum(), "mean_s": g["s"].mean(),
        "extract": g["e_extract"].mean(), "rotation": g["e_rotation"].mean(), "volume": g["e_volume"].mean(),
        "wave": g["e_wave"].mean(), "meta": g["e_meta"].mean(), "human_share": g["human"].mean(),
        "extract_share": g["n_hit"].sum() / g["n_seen"].sum().clip(lower=1),
        "n_seen_all": g["n_seen"].sum(),
        "self_repeat": g["n_dup"].sum() / g["n_seen"].sum().clip(lower=1),
        "median_blocks": g["n_blocks_own"].median(),
        "launch_day": g["n_launch_day"].sum(), "launch_day_new": g["n_launch_day_new"].sum(),
        "median_per_day": (m["n_req"] / m["n_days"].clip(lower=1)).groupby(m["comp"]).median(),
    })
    t["extract_lcb"] = wilson_lower(t["extract_share"], t["n_seen_all"])
    comp = members.set_index("account_id")["comp"]
    if repeats is not None and len(repeats):
        r = repeats.assign(comp=repeats["account_id"].map(comp)).dropna(subset=["comp"])
        t["repeated"] = r.groupby("comp")["repeated"].mean()
    t["repeated"] = t.get("repeated", pd.Series(0.0, index=t.index)).fillna(0.0)
    if len(e):
        ca, cb = e["a"].map(comp), e["b"].map(comp)
        inside = e[ca == cb].assign(comp=ca[ca == cb])
        t["link_weight"] = inside.groupby("comp")["weight"].sum() / t["size"]
        kinds = inside.assign(kind=inside["kinds"].str.split("+")).explode("kind")
        t["link_kinds"] = kinds.groupby("comp")["kind"].agg(lambda s: ", ".join(sorted(set(s))))
    t["link_weight"] = t.get("link_weight", pd.Series(0.0, index=t.index)).fillna(0.0)
    t["link_kinds"] = t.get("link_kinds", pd.Series("", index=t.index)).fillna("")
    t = t.join(sync.set_index("comp") if len(sync) else pd.DataFrame(columns=["sync_share", "burst_windows"]))
    t[["sync_share", "burst_windows"]] = t[["sync_share", "burst_windows"]].astype(float).fillna(0.0)
    t["coactivity"] = coact.reindex(t.index).fillna(0.0) if len(coact) else 0.0
    all_day = acc["n_launch_day"].sum()
    t["baseline_new"] = acc["n_launch_day_new"].sum() / all_day if all_day else 0.0
    t["new_share"] = (t["launch_day_new"] / t["launch_day"].replace(0, np.nan)).fillna(0.0)
    retarget = (t["new_share"] >= 0.2) & (t["new_share"] >= 2 * t["baseline_new"]) & (t["launch_day"] >= 20)
    parts = {
        "members": t["mean_s"],
        # pooled over the members, a share a few times the background is strong evidence even where
        # each account hides its extraction among ordinary requests (80–90% filler) or sends only a few
        "extract": np.clip((t["extract_lcb"] - 2 * background) / 0.1, 0, 1),
        "links": np.clip(t["link_weight"] / 2, 0, 1),
        "sync": np.clip(t["sync_share"] / 0.3, 0, 1),
        "coactivity": np.clip(t["coactivity"] / 0.5, 0, 1),
        "retarget": retarget.astype(float),
        "size": np.clip(np.log10(t["size"].clip(lower=1)) / 2, 0, 1),
    }
    for k, v in parts.items():
        t[f"e_{k}"] = np.round(COMMUNITY_WEIGHTS[k] * np.asarray(v, float), 6)
    t["score"] = np.round(_noisy_or(parts), 6)
    # Extraction is what makes a campaign a *distillation* campaign. A campaign pays for coverage and
    # does not send one question from two accounts; a class doing the same homework or a lab running
    # one benchmark does: a community whose extraction prompts are mostly repeated word for word
    # across accounts is an honest population, however similar it looks otherwise.
    # Extraction says what a community asks; it takes operating like a campaign to make it one: IP
    # rotation, machine volumes, waves of short-lived accounts, throwaway metadata, bursts or hourly
    # volumes in step. A lab or a company asking hard questions from its own network at human
    # volumes, present all along, shows none of them. (Launch-day retargeting is not among them:
    # labs benchmark a new model on its first day too; it adds to the score only.)
    # A wave of new accounts is a campaign's sign when the accounts then act in step; accounts that
    # merely first appeared in a busy hour and went their own ways (hourly volumes uncorrelated or
    # opposed) are people who happened to sign up then.
    wave = t["wave"].where(t["coactivity"] >= 0, 0.0)
    # Word-for-word repeats across accounts mark a class doing one worksheet or labs running one
    # benchmark, but also an operator firing one probe list from many accounts; what tells them
    # apart is how the accounts behave: people send human volumes, were not a coordinated wave of new
    # accounts (networks do not tell: students move between campus, home and phone), and most of what
    # they ask is not extraction (one prompt list spread over a hydra's accounts is mostly extraction).
    # Nor do people take a fresh network for nearly every request (students measured ≤ 0.32 rotation),
    # nor send most of their requests in the same five minutes as the others (deadline rushes measured
    # ≤ 0.52 of a class's requests in synchronized bursts, an operator's scheduler 0.86).
    coordinated = (wave >= 0.3) | (t["rotation"] >= 0.5) | (t["sync_share"] >= 0.7)
    # Step-by-step homework reads like chain-of-thought elicitation to the prompt classifier: classes
    # measured up to 55% pooled extraction share in the development scenarios.
    people = (t["volume"] < 0.3) & ~coordinated & (t["extract_share"] < 0.65)
    # A lab re-running a benchmark repeats itself (each account sends the same items again: 23–38%
    # of its chosen prompts in the development scenarios) from its own machines (one or two networks
    # per account). Repeating alone is not enough: a sweep cycling a few templates repeats too, but
    # through proxies.
    lab = (t["self_repeat"] >= 0.15) & t["median_blocks"].between(1, 2)  # 0 own blocks: all through shared proxies
    t["class_like"] = (t["repeated"] >= 0.5) & people
    honest_repeats = t["class_like"] | lab
    t["operational"] = np.max(np.column_stack([
        t["rotation"], t["volume"], wave, t["meta"], parts["sync"], parts["coactivity"],
    ]), axis=1).round(6)
    # Extraction that dominates what a community asks is a campaign's sign by itself: a pooled share whose
    # lower bound is 35% or more, where ordinary groups measured at most 19% in the development scenarios
    # (classes up to 42%, but they repeat one worksheet and are spared above). Careful operators at human
    # volumes on residential proxies or privacy relays show no other operating sign (development: 5 of 40
    # operators, 17–81 accounts each, lost for it). A group asking that much from its own one or two
    # networks is a lab, and stays spared.
    own_network = t["median_blocks"].between(1, 2)
    dominant = (t["extract_lcb"] >= 0.35) & ~own_network
    t["flagged"] = ((t["size"] >= cfg.min_accounts) & (t["score"] >= cfg.flag_score)
                    & (parts["extract"] >= 0.3) & ~honest_repeats & ((t["operational"] >= 0.25) | dominant))
    t = t.reset_index().sort_values(["flagged", "size", "comp"], ascending=[False, False, True], kind="stable")
    t = t.reset_index(drop=True)
    t["cluster"] = ""
    t.loc[t["flagged"], "cluster"] = [f"op{i + 1:03d}" for i in range(int(t["flagged"].sum()))]
    return t


def split_by_repeats(comms: pd.DataFrame, members: pd.DataFrame, repeats: pd.DataFrame,
                     low: float = 0.2, high: float = 0.5, min_prompts: int = 3) -> pd.DataFrame | None:
    """Move the members that do not fit their community's verdict on repeats into communities of their own.

    A class is spared because its members send the same questions word for word; a campaign pays
    for coverage and does not. Links (a shared network, a generic system prompt) can put both in one
    community, and the verdict on the whole then hides one behind the other: an operator inside a
    spared class, or students inside a flagged campaign. So, once: from a community spared as a
    class, the members whose own extraction prompts are seldom sent by anyone else (share ≤ ``low``)
    move out; from any other community, those whose prompts mostly are (share ≥ ``high``). Each
    moved group is then scored on its own evidence. Accounts with fewer than ``min_prompts``
    extraction prompts read stay where they are.

    Args:
        comms: :func:`community_table`'s output (comp, class_like).
        members: account_id → comp.
        repeats: account_id, repeated (one row per extraction prompt read).
        low: an account repeating at most this share does not fit a class.
        high: an account repeating at least this share does not fit a campaign.
        min_prompts: fewest extraction prompts read to judge an account.

    Returns:
        The new members (each moved group gets a comp id after the largest, in comp order), or None
        when nothing moved.
    """
    if comms.empty or repeats.empty:
        return None
    per = repeats.groupby("account_id", sort=True)["repeated"].agg(["mean", "size"])
    m = members.join(per, on="account_id").join(
        comms.set_index("comp")["class_like"].astype(bool).rename("class_like"), on="comp")
    judged = m["size"] >= min_prompts
    misfit = judged & np.where(m["class_like"].fillna(False).astype(bool), m["mean"] <= low, m["mean"] >= high)
    # a whole community that fits the other verdict is not split; it is scored as it is
    whole = misfit.groupby(m["comp"]).transform("all")
    out = misfit & ~whole
    if not out.any():
        return None
    base = int(members["comp"].max()) + 1
    new_id = {c: base + i for i, c in enumerate(sorted(m.loc[out, "comp"].unique()))}
    moved = members.copy()
    moved.loc[out, "comp"] = m.loc[out, "comp"].map(new_id).astype(moved["comp"].dtype)
    return moved


def keep_splits(members: pd.DataFrame, split: pd.DataFrame, comms: pd.DataFrame) -> pd.DataFrame | None:
    """Of the groups :func:`split_by_repeats` moved, keep those that it separated from a different verdict.

    A split is for two populations in one community: kept where exactly one of the two parts is
    flagged (the operator apart from the class, or the class apart from the campaign). Where both
    parts get the same verdict the accounts were one population after all (an operator firing one
    probe list from some of its accounts repeats in part): the group goes back, and the whole
    community is scored as before rather than as two halves that each show half the evidence.

    Args:
        members: account_id → comp before the split.
        split: the same accounts after it.
        comms: :func:`community_table` on ``split``.

    Returns:
        The members with the kept splits, or None when none is kept.
    """
    flagged = comms.set_index("comp")["flagged"].astype(bool)
    moved = split["comp"].to_numpy() != members["comp"].to_numpy()
    pairs = pd.DataFrame({"new": split["comp"][moved].to_numpy(), "old": members["comp"][moved].to_numpy()})
    pairs = pairs.drop_duplicates("new")
    keep = set(pairs.loc[pairs["new"].map(flagged).fillna(False).to_numpy()
                         != pairs["old"].map(flagged).fillna(False).to_numpy(), "new"])
    if not keep:
        return None
    out = members.copy()
    back = moved & split["comp"].isin(keep).to_numpy()
    out.loc[back, "comp"] = split.loc[back, "comp"]
    return out


def split_by_goal(comms: pd.DataFrame, members: pd.DataFrame, acc: pd.DataFrame, min_accounts: int,
                  min_prompts: int = 5, own: float = 0.6, other: float = 0.2,
                  min_share: float = 0.1) -> pd.DataFrame | None:
    """Split flagged communities whose members pursue different extraction goals, one part per goal.

    Operators that buy from the same proxy network or paste the same generic system prompt get linked,
    and one community then holds several of them. What they do not share is their goal: a
    reasoning harvest, an agent-trajectory harvest, a topic sweep (``prompts.GOALS``, read from every
    extraction prompt of every account). An account's goal is the one most of its extraction prompts
    serve. Goals held by at least ``min_accounts`` accounts (and ``min_share`` of the accounts judged)
    are major; two major goals whose groups ask for each other's goal (more than ``other`` of their
    pooled prompts) are one part — an operator whose accounts each mix two goals, or two goals the
    classifier confuses (chain-of-thought vs. reasoning). A community with two parts or more is split
    where each part is clearly about its goals (pooled prompts ≥ ``own`` on them and ≤ ``other`` on every
    other part's). Accounts without a clear goal (fewer than ``min_prompts`` extraction prompts, or a goal
    of no major group) join the part whose pooled goal mix is nearest to theirs, or the largest part
    when they have none.

    Args:
        comms: :func:`community_table`'s output (comp, flagged).
        members: account_id → comp.
        acc: per-account counts (index account_id): n_goal_<goal> for each goal.
        min_accounts: least accounts of a part (the scan's smallest operator).
        min_prompts: least extraction prompts to give an account a goal.
        own: least share of a part's pooled prompts on its own goals.
        other: share of a goal's prompts on another goal above which the two are one part; most share of a
            part's pooled prompts on another part's goals.
        min_share: least share of the judged accounts in a part.

    Returns:
        The new members (every part but the largest gets a comp id after the largest existing, in comp
        and then part order), or None when no community splits.
    """
    cols = [c for c in acc.columns if c.startswith("n_goal_")]
    if comms.empty or not cols:
        return None
    flagged = set(comms.loc[comms["flagged"].astype(bool), "comp"])
    m = members[members["comp"].isin(flagged)].join(acc[cols], on="account_id").fillna({c: 0 for c in cols})
    if m.empty:
        return None
    out = members.copy()
    next_id = int(members["comp"].max()) + 1
    moved = False
    for _, g in m.groupby("comp", sort=True):
        counts = g[cols].to_numpy(float)
        total = counts.sum(1)
        judged = total >= min_prompts
        best = np.argmax(counts, axis=1)  # ties: the first goal
        n_judged = int(judged.sum())
        sizes = np.bincount(best[judged], minlength=len(cols))
        major = [k for k in range(len(cols)) if sizes[k] >= max(min_accounts, min_share * n_judged)]
        if len(major) < 2:
            continue
        mix = {}
        for k in major:
            pooled = counts[judged & (best == k)].sum(0)
            mix[k] = pooled / pooled.sum()
        # goals whose groups ask for each other's (more than ``other``) are one part: an operator working both,
        # or two goals the classifier confuses on its prompts
        root = {k: k for k in major}
        for j in major:
            for k in major:
                if j < k and (mix[k][j] > other or mix[j][k] > other):
                    rj, rk = root[j], root[k]
                    root = {x: min(rj, rk) if r in (rj, rk) else r for x, r in root.items()}
        parts = [tuple(k for k in major if root[k] == r) for r in sorted(set(root.values()))]
        if len(parts) < 2:
            continue
        of = np.full(len(cols), -1)
        for p, goals in enumerate(parts):
            of[list(goals)] = p
        part = np.where(judged, of[best], -1)
        pmix = []
        for p in range(len(parts)):
            pooled = counts[part == p].sum(0)
            pmix.append(pooled / pooled.sum())
        if not all(pmix[p][list(goals)].sum() >= own
                   and all(pmix[p][list(q)].sum() <= other for q in parts if q != goals)
                   for p, goals in enumerate(parts)):
            continue
        psize = np.bincount(part[part >= 0], minlength=len(parts))
        largest = max(range(len(parts)), key=lambda p: (psize[p], -p))
        for i in np.flatnonzero(part < 0):  # nearest pooled mix (L1), else the largest part
            if total[i] > 0:
                share = counts[i] / total[i]
                part[i] = min(range(len(parts)), key=lambda p: (np.abs(pmix[p] - share).sum(), p))
            else:
                part[i] = largest
        ids = g["account_id"].to_numpy()
        for p in range(len(parts)):
            if p == largest:
                continue
            out.loc[out["account_id"].isin(ids[part == p]), "comp"] = next_id
            next_id += 1
        moved = True
    return out if moved else None


def merge_by_goal(comms: pd.DataFrame, members: pd.DataFrame, e: pd.DataFrame, acc: pd.DataFrame,
                  resolution: float = RESOLUTION, density: float = 0.8, own: float = 0.6, alike: float = 0.2,
                  factor: float = 2.0) -> pd.DataFrame | None:
    """Join flagged communities that pursue one goal and are linked almost as densely as one community is.

    The CPM cuts a large operator whose accounts share evidence unevenly (sub-pools of a proxy network,
    accounts made on different days) into pieces, each linked to the others at just under the resolution;
    the pieces pursue one goal and operate alike. Two operators with one goal on one proxy provider can be
    linked as densely, but they are two set-ups: one rotates its networks and the other does not, one
    sends machine volumes, one asks from many more networks per account. Two flagged communities join
    when both pooled goal mixes give ``own`` or more to the same goal, the weight between them per pair
    of accounts is ``density`` × ``resolution`` or more, and they operate alike: mean rotation and mean
    volume strengths within ``alike`` of each other, median requests per active day and median own IP
    blocks within a ``factor`` of each other. Joins chain.

    Args:
        comms: :func:`community_table`'s output (comp, flagged).
        members: account_id → comp.
        e: graph edges (a, b, weight).
        acc: per-account counts (index account_id): n_goal_<goal> for each goal.
        resolution: the CPM resolution the communities were found at (``graph.communities``).
        density: least share of the resolution the weight per pair between two communities must reach.
        own: least share of a community's pooled extraction prompts on its goal.
        alike: largest difference of the mean rotation (and of the mean volume) strength.
        factor: largest ratio of the median requests per active day (and of the median own blocks, + 1).

    Returns:
        The new members (each joined group takes its smallest comp id), or None when nothing joins.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cols = [c for c in acc.columns if c.startswith("n_goal_")]
    flagged = sorted(comms.loc[comms["flagged"].astype(bool), "comp"])
    if len(flagged) < 2 or not cols or not len(e):
        return None
    comp = members.set_index("account_id")["comp"]
    m = members[members["comp"].isin(flagged)]
    pooled = m.join(acc[cols], on="account_id").groupby("comp")[cols].sum()
    mix = pooled.div(pooled.sum(axis=1).clip(lower=1), axis=0)
    goal = pd.Series(np.where(mix.max(axis=1) >= own, mix.to_numpy().argmax(axis=1), -1), index=mix.index)
    size = m["comp"].value_counts()
    how = m.join(acc[["e_rotation", "e_volume", "n_req", "n_days", "n_blocks_own"]], on="account_id")
    how = how.assign(per_day=how["n_req"] / how["n_days"].clip(lower=1)).groupby("comp").agg(
        rot=("e_rotation", "mean"), vol=("e_volume", "mean"), per_day=("per_day", "median"),
        blocks=("n_blocks_own", "median"))
    ca, cb = e["a"].map(comp), e["b"].map(comp)
    x = pd.DataFrame({"lo": np.minimum(ca, cb), "hi": np.maximum(ca, cb), "w": e["weight"].astype(float)})
    x = x[x["lo"].isin(flagged) & x["hi"].isin(flagged) & (x["lo"] != x["hi"])]
    if x.empty:
        return None
    w = x.groupby(["lo", "hi"], sort=True)["w"].sum().reset_index()
    w["dens"] = w["w"] / (w["lo"].map(size).to_numpy() * w["hi"].map(size).to_numpy())
    lo, hi = how.loc[w["lo"]].reset_index(drop=True), how.loc[w["hi"]].reset_index(drop=True)
    ratio = np.maximum(lo["per_day"], 1e-9) / np.maximum(hi["per_day"], 1e-9)
    blocks = (lo["blocks"] + 1) / (hi["blocks"] + 1)
    same_way = ((lo["rot"] - hi["rot"]).abs() <= alike) & ((lo["vol"] - hi["vol"]).abs() <= alike) \
        & ratio.between(1 / factor, factor) & blocks.between(1 / factor, factor)
    join = w[(w["dens"] >= density * resolution) & (w["lo"].map(goal) >= 0)
             & (w["lo"].map(goal).to_numpy() == w["hi"].map(goal).to_numpy()) & same_way.to_numpy()]
    if join.empty:
        return None
    pos = {c: i for i, c in enumerate(flagged)}
    g = coo_matrix((np.ones(len(join)), (join["lo"].map(pos), join["hi"].map(pos))), shape=(len(flagged),) * 2)
    _, label = connected_components(g, directed=False)
    first = pd.Series(flagged).groupby(label).transform("min")
    to = dict(zip(flagged, first, strict=True))
    out = members.copy()
    out["comp"] = out["comp"].map(lambda c: to.get(c, c)).astype(members["comp"].dtype)
    return out


def keep_flagged_splits(members: pd.DataFrame, split: pd.DataFrame, comms: pd.DataFrame) -> pd.DataFrame | None:
    """Of the communities :func:`split_by_goal` split (or :func:`merge_by_goal` joined), keep those whose every
    part (or the joined whole) is still flagged on its own.

    A part that loses the flag had its evidence from the others (a sweep's rotation, a harvest's volume): the
    accounts were one operator working several goals, or the split cost what linked them; that community goes
    back whole.

    Args:
        members: account_id → comp before :func:`split_by_goal` (or :func:`merge_by_goal`).
        split: the same accounts after it, in the same order.
        comms: the scores of ``split``'s communities (:func:`community_table`).

    Returns:
        ``members`` with each kept split (or join) applied, or None where nothing is kept.
    """
    flagged = comms.set_index("comp")["flagged"].astype(bool)
    old, new = members["comp"].to_numpy(), split["comp"].to_numpy()
    parts = pd.DataFrame({"old": old, "new": new}).drop_duplicates()
    parts = parts[parts["old"].isin(parts.loc[parts["old"] != parts["new"], "old"])]
    ok = parts.assign(f=parts["new"].map(flagged).fillna(False).astype(bool)).groupby("old")["f"].all()
    keep = set(ok.index[ok])
    if not keep:
        return None
    out = members.copy()
    back = np.isin(old, list(keep))
    out.loc[back, "comp"] = new[back]
    return out


def describe(row, ids: list, acc, examples, e, keys) -> dict:
    """The community as JSON: members, numbers, and the evidence in sentences.

    Args:
        row: the community's row of :func:`community_table`.
        ids: its member account ids.
        acc: per-account features (the n_goal_<goal> counts, when present, name the members' goals).
        examples: extraction prompts read, columns account_id, rn, prompt.
        e: graph edges (unused here).
        keys: shared keys, columns account_id, ktype, k.

    Returns:
        {"cluster", "score", "accounts", "requests", "evidence" (sentences), "example_prompts" (up to 3,
        200 characters each), "strengths" (the e_* parts), "members" (sorted ids)}.
    """
    idset = set(ids)
    ev = []
    if row["link_weight"] > 0:
        ev.append(f"Members are linked by shared {row['link_kinds']} (rarity-weighted link weight "
                  f"{row['link_weight']:.2f} per member).")
    k = keys[keys["account_id"].isin(idset)] if len(keys) else keys
    for ktype, what in (("payment", "payment ids"), ("ip_block", "IP blocks"), ("system_prompt", "system prompts"),
                        ("template", "prompt templates"), ("user_agent", "user agents")):
        kk = k[k["ktype"] == ktype] if len(k) else k
        if len(kk):
            top = kk.groupby("k")["account_id"].nunique().sort_values(ascending=False, kind="stable").head(3)
            top = top[top >= 2]
            if len(top):
                shown = "; ".join(f"{str(x)[:60]!r} by {v} members" for x, v in top.items())
                ev.append(f"Members share {kk['k'].nunique()} {what} (top: {shown}).")
    ev.append(f"{row['extract_share']:.0%} of the members' prompts read elicit reasoning traces or extract "
              f"capabilities (mean extraction strength {row['extract']:.2f}).")
    cols = [c for c in acc.columns if c.startswith("n_goal_")]
    if cols:
        pooled = acc.loc[acc.index.intersection(sorted(idset)), cols].sum().sort_values(ascending=False, kind="stable")
        if pooled.sum() > 0:
            top = [f"{c[len('n_goal_'):]} {v / pooled.sum():.0%}" for c, v in pooled.head(2).items() if v > 0]
            ev.append(f"What those prompts are after: {', '.join(top)} (goal classifier; operators that share a proxy "
                      f"network are told apart by it).")
    ev.append(f"Median member uses {row['median_blocks']:.0f} IP blocks of its own (rotation strength "
              f"{row['rotation']:.2f}) and sends {row['median_per_day']:.0f} requests per active day.")
    if row["wave"] > 0.05:
        ev.append(f"Members appeared in waves of new accounts and lived briefly (wave strength {row['wave']:.2f}).")
    if row["meta"] > 0.05:
        ev.append(f"Account metadata: prepaid cards, credit programmes or signup waves (strength {row['meta']:.2f}).")
    ev.append(f"{row['repeated']:.0%} of those prompts were sent word for word by another account too "
              f"(classes and benchmark labs repeat questions; campaigns pay for coverage).")
    if row["sync_share"] > 0:
        ev.append(f"{row['sync_share']:.0%} of the community's requests fall in {int(row['burst_windows'])} five-minute "
                  f"windows where at least 5× the usual number of members were active together.")
    if row["coactivity"] > 0.1:
        ev.append(f"Members' hourly volumes move together (mean correlation {row['coactivity']:.2f}).")
    if row["e_retarget"] > 0:
        ev.append(f"On the first day of a newly launched model, {row['new_share']:.0%} of the community's traffic "
                  f"went to it (all accounts: {row['baseline_new']:.0%}).")
    ex = examples[examples["account_id"].isin(idset)].sort_values(["account_id", "rn"], kind="stable")
    ex = ex["prompt"].astype(str).str.slice(0, 200).drop_duplicates().head(3).tolist()
    return {"cluster": row["cluster"], "score": round(float(row["score"]), 4), "accounts": int(row["size"]),
            "requests": int(row["requests"]), "evidence": ev, "example_prompts": ex,
            "strengths": {c[2:]: round(float(row[c]), 3) for c in row.index if c.startswith("e_")},
            "members": sorted(ids)}
