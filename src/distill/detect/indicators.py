"""Sharing indicators of flagged campaigns with other providers, as STIX 2.1, without raw identifiers.

Export (``--export-indicators FILE``): per flagged community a STIX ``campaign`` (time window,
size) and one ``indicator`` whose pattern lists the community's keys — IP blocks, payment ids,
user agents, system prompts, prompt-template MinHash bands — each as an HMAC-SHA256 keyed by a
secret both providers hold (``--indicator-key-env``, read from the environment, never written or
logged), so a raw identifier never leaves. Import (``--indicators FILE``): the other provider's
bundle is parsed (``stix2``), the same HMAC is computed over these logs' keys, and every account
holding a matching key is reported with the campaign it matched.

Everything is deterministic: ids are UUIDv5 of the content, times come from the logs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import uuid

import numpy as np
import pandas as pd

KINDS = ("ip_block", "payment", "user_agent", "system_prompt", "template_band")
NAMESPACE = uuid.UUID("6f1d3c2a-8b7e-5d40-9a61-2f0c4e8b7d15")  # distill's; fixes the ids of what it writes
MAX_PER_KIND = 200  # most-shared values of each kind per campaign: enough to match, bounded file
BANDS, ROWS = 16, 4  # MinHash LSH bands of the template signatures (64 permutations)
_PATTERN = re.compile(r"x-distill-key:(\w+) = '([0-9a-f]{64})'")


def secret(env: str) -> bytes:
    """The shared HMAC key, from the environment variable named ``env``.

    Args:
        env: the environment variable's name.

    Returns:
        The key, UTF-8 encoded.

    Raises:
        ValueError: the variable is unset or shorter than 16 characters.
    """
    value = os.environ.get(env, "")
    if len(value) < 16:
        raise ValueError(f"indicators need a shared secret of at least 16 characters in the environment variable "
                         f"{env} (agree on it with the other provider; it is never written or logged).")
    return value.encode("utf-8")


def keyed(key: bytes, kind: str, values) -> np.ndarray:
    """HMAC-SHA256 hex of ``kind:value`` for each value.

    Args:
        key: the shared HMAC key.
        kind: the key kind (e.g. "ip_block"), prefixed to each value.
        values: the values to fingerprint.

    Returns:
        Object array (N,) of 64-character hex digests.
    """
    return np.array([hmac.new(key, f"{kind}:{v}".encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
                     for v in values], dtype=object)


def template_bands(prompts: pd.DataFrame) -> pd.DataFrame:
    """(account_id, k) band keys of the MinHash signatures of each account's prompts.

    Args:
        prompts: columns account_id, prompt.

    Returns:
        Distinct rows (account_id, k), k = "band:hash-hash-…", ``BANDS`` bands per prompt.
    """
    from datasketch import MinHash

    from distill.detect.content import NUM_PERM, shingles

    if prompts.empty:
        return pd.DataFrame(columns=["account_id", "k"])
    sigs = MinHash.bulk([shingles(t) for t in prompts["prompt"].astype(str)], num_perm=NUM_PERM, seed=1)
    rows = []
    for a, m in zip(prompts["account_id"], sigs, strict=True):
        hv = m.hashvalues
        for b in range(BANDS):
            rows.append((a, f"{b}:" + "-".join(str(int(x)) for x in hv[b * ROWS : (b + 1) * ROWS])))
    return pd.DataFrame(rows, columns=["account_id", "k"]).drop_duplicates()


def _iso(t: float) -> str:
    return pd.Timestamp(int(t), unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def bundle(campaigns: list[dict], key: bytes, provider: str) -> str:
    """The STIX 2.1 bundle (JSON text) of ``campaigns``: dicts with cluster, accounts, first_t, last_t, keys.

    ``keys``: DataFrame (account_id, ktype, k) of the campaign's members.

    Args:
        campaigns: the flagged campaigns; first_t/last_t are Unix seconds.
        key: the shared HMAC key; only keyed fingerprints leave (at most ``MAX_PER_KIND`` per kind).
        provider: this provider's name, for the STIX identity and campaign names.

    Returns:
        The bundle, pretty-printed JSON; campaigns without any key are left out.
    """
    import stix2

    objs = []
    ident = stix2.Identity(id=f"identity--{uuid.uuid5(NAMESPACE, provider)}", name=provider, identity_class="organization",
                           created="2026-01-01T00:00:00Z", modified="2026-01-01T00:00:00Z")
    objs.append(ident)
    for c in campaigns:
        first, last = _iso(c["first_t"]), _iso(c["last_t"])
        terms = []
        for kind in KINDS:
            k = c["keys"][c["keys"]["ktype"] == kind]
            if k.empty:
                continue
            top = (k.groupby("k")["account_id"].nunique().reset_index()
                   .sort_values(["account_id", "k"], ascending=[False, True], kind="stable").head(MAX_PER_KIND))
            terms += [f"[x-distill-key:{kind} = '{h}']" for h in sorted(keyed(key, kind, top["k"]))]
        if not terms:
            continue
        name = f"{provider} {c['cluster']}"
        camp = stix2.Campaign(id=f"campaign--{uuid.uuid5(NAMESPACE, name + first)}", name=name,
                              description=f"Distillation campaign: {c['accounts']} accounts flagged by distill detect "
                                          f"traffic between {first} and {last}.",
                              first_seen=first, last_seen=last, created=last, modified=last,
                              created_by_ref=ident.id)
        ind = stix2.Indicator(id=f"indicator--{uuid.uuid5(NAMESPACE, name + ' '.join(terms))}",
                              name=f"{name}: keyed fingerprints", indicator_types=["malicious-activity"],
                              description="HMAC-SHA256 fingerprints (shared key) of the campaign's IP blocks, payment "
                                          "ids, user agents, system prompts and prompt-template MinHash bands.",
                              pattern=" OR ".join(terms), pattern_type="stix", valid_from=first, created=last,
                              modified=last, created_by_ref=ident.id, allow_custom=True)
        rel = stix2.Relationship(id=f"relationship--{uuid.uuid5(NAMESPACE, ind.id + camp.id)}",
                                 relationship_type="indicates", source_ref=ind.id, target_ref=camp.id,
                                 created=last, modified=last, created_by_ref=ident.id)
        objs += [camp, ind, rel]
    b = stix2.Bundle(*objs, id=f"bundle--{uuid.uuid5(NAMESPACE, ' '.join(o.id for o in objs))}", allow_custom=True)
    return b.serialize(pretty=True)


def read(path) -> dict[str, dict[str, set]]:
    """A bundle's campaigns → {kind: set of fingerprints}. Refuses a file that is not STIX, naming it.

    Args:
        path: the bundle file.

    Returns:
        Campaign name → {kind: set of hex fingerprints}, from its "indicates" relationships.

    Raises:
        ValueError: the file is not a STIX 2.1 bundle.
    """
    import json

    import stix2

    try:
        b = stix2.parse(open(path, encoding="utf-8").read(), allow_custom=True)
    except (json.JSONDecodeError, stix2.exceptions.STIXError, ValueError) as e:
        raise ValueError(f"{path} is not a STIX 2.1 bundle: {e}") from None
    if getattr(b, "type", None) != "bundle" and not (isinstance(b, dict) and b.get("type") == "bundle"):
        raise ValueError(f"{path} is not a STIX 2.1 bundle (its type is {getattr(b, 'type', None) or b.get('type')!r}).")
    objs = {o.id: o for o in getattr(b, "objects", [])}
    out: dict[str, dict[str, set]] = {}
    for o in objs.values():
        if o.type == "relationship" and o.relationship_type == "indicates" and o.source_ref in objs:
            camp = objs.get(o.target_ref)
            name = camp.name if camp is not None else o.target_ref
            for kind, h in _PATTERN.findall(objs[o.source_ref].pattern):
                out.setdefault(name, {}).setdefault(kind, set()).add(h)
    return out


def match(foreign: dict[str, dict[str, set]], values: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Accounts of these logs holding keys of the foreign campaigns.

    Args:
        foreign: campaign name → {kind: set of fingerprints}, as :func:`read` returns.
        values: (account_id, ktype, k) of every account here (kinds of ``KINDS``).
        key: the shared HMAC key (:func:`secret`) the foreign provider used.

    Returns:
        DataFrame (campaign, account_id, kinds, matches) sorted by campaign, matches desc, account.
    """
    cols = ["campaign", "account_id", "kinds", "matches"]
    if not foreign or values.empty:
        return pd.DataFrame(columns=cols)
    v = values.drop_duplicates(["account_id", "ktype", "k"]).copy()
    uniq = v[["ktype", "k"]].drop_duplicates()
    uniq["h"] = [keyed(key, kt, [k])[0] for kt, k in zip(uniq["ktype"], uniq["k"], strict=True)]
    v = v.merge(uniq, on=["ktype", "k"])
    rows = []
    for name in sorted(foreign):
        hit = v[[h in foreign[name].get(kt, ()) for kt, h in zip(v["ktype"], v["h"], strict=True)]]
        for a, g in hit.groupby("account_id", sort=True):
            rows.append((name, a, ", ".join(sorted(set(g["ktype"]))), len(g)))
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["campaign", "matches", "account_id"], ascending=[True, False, True], kind="stable")
