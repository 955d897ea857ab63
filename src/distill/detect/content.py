"""Prompts that are the same template across accounts, robust to small paraphrase: MinHash LSH.

Each account contributes a few of its extraction prompts; each prompt becomes a MinHash signature
over character 5-grams of its normalized text (lower case, digits as 0, runs of space collapsed),
which reads any script. LSH (datasketch) finds pairs above a Jaccard threshold; the connected
groups are *prompt clusters*, and every account holding a member gets the cluster as a key
(``ktype = "template"``), weighed by rarity like any other shared key.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

SHINGLE = 5
NUM_PERM = 64


def normalize(text: str) -> str:
    """Lower case, every run of digits as "0", runs of whitespace as one space, stripped.

    Args:
        text: a prompt.

    Returns:
        The normalized text.
    """
    return re.sub(r"\s+", " ", re.sub(r"\d+", "0", text.lower())).strip()


def shingles(text: str) -> list[bytes]:
    """The distinct character 5-grams of the normalized text's first 400 characters, sorted.

    Args:
        text: a prompt.

    Returns:
        The 5-grams as UTF-8 bytes; a text shorter than 5 characters is its own single shingle.
    """
    t = normalize(text)[:400]  # the template shows in the first few hundred characters
    if len(t) < SHINGLE:
        return [t.encode("utf-8", "replace")]
    return sorted({t[i : i + SHINGLE].encode("utf-8", "replace") for i in range(len(t) - SHINGLE + 1)})


def template_keys(prompts: pd.DataFrame, threshold: float = 0.5, seed: int = 1) -> pd.DataFrame:
    """Keys of the prompt clusters shared by ≥ 2 accounts.

    Args:
        prompts: columns account_id, rn, prompt (rn orders an account's prompts; ties impossible).
        threshold: Jaccard similarity of two prompts' 5-gram sets above which they are near-duplicates.
        seed: seed of the MinHash permutations.

    Returns:
        DataFrame (account_id, ktype="template", k, n): n prompts of the account in cluster k.
    """
    from datasketch import MinHash, MinHashLSH
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cols = ["account_id", "ktype", "k", "n"]
    if prompts.empty:
        return pd.DataFrame(columns=cols)
    p = prompts.sort_values(["account_id", "rn"], kind="stable").reset_index(drop=True)
    sigs = MinHash.bulk([shingles(t) for t in p["prompt"].astype(str)], num_perm=NUM_PERM, seed=seed)
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    for i, m in enumerate(sigs):
        lsh.insert(i, m, check_duplication=False)
    src, dst = [], []
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            if j > i:
                src.append(i)
                dst.append(j)
    n = len(p)
    g = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, label = connected_components(g, directed=False)
    # a cluster is named by its first prompt in (account_id, rn) order: the same on every run
    first = pd.Series(np.arange(n)).groupby(label).transform("min").to_numpy()
    k = pd.DataFrame({"account_id": p["account_id"], "k": [f"tpl{i}" for i in first]})
    per = k.groupby(["account_id", "k"], sort=True).size().rename("n").reset_index()
    shared = per.groupby("k")["account_id"].transform("size") >= 2
    return per[shared].assign(ktype="template")[cols].reset_index(drop=True)


def fingerprint(text: str) -> str:
    """The prompt's words in order (case, punctuation and spacing ignored; numbers kept).

    Args:
        text: a prompt.

    Returns:
        Its lower-cased word characters, space-separated.
    """
    return " ".join(re.findall(r"\w+", text.lower()))


def repeated(prompts: pd.DataFrame) -> pd.Series:
    """For each prompt (same index), whether another account sent the same question word for word.

    Campaigns pay for coverage: they do not send the same question from two accounts. A class
    working the same homework, a lab running one benchmark from several accounts do.

    Args:
        prompts: columns account_id and prompt.

    Returns:
        Boolean per prompt, on ``prompts``' index.
    """
    if prompts.empty:
        return pd.Series(dtype=bool)
    fp = prompts["prompt"].astype(str).map(fingerprint)
    holders = pd.DataFrame({"fp": fp, "a": prompts["account_id"]}).drop_duplicates().groupby("fp")["a"].size()
    return fp.map(holders) >= 2
