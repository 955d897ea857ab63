"""The account table: one row per account, filled group by group, then frozen into arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from distill.detect.scenarios.knobs import ACCOUNT_KINDS

KIND = {k: i for i, k in enumerate(ACCOUNT_KINDS)}
COLUMNS = ("kind", "group", "weight", "tz", "lang", "persona", "home", "alt", "signup", "pay", "ua", "param", "topic",
           "operator", "op_kind", "payment_type", "payment_bin", "payment_country", "email_domain", "program")
OBJECT_COLUMNS = ("lang", "pay", "ua", "operator", "op_kind", "payment_type", "payment_bin", "payment_country",
                  "email_domain", "program")


@dataclass
class Accounts:
    """Columns of the account table (numpy arrays of one length) and the activity mask (accounts, days)."""

    cols: dict[str, np.ndarray] = field(default_factory=dict)
    active: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, object))

    def __len__(self) -> int:
        return len(self.ids)

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("cols", {})
        if name in cols:
            return cols[name]
        raise AttributeError(name)


class Builder:
    """Collects groups of accounts; :meth:`freeze` gives the :class:`Accounts`.

    Args:
        days: the scenario's length in days: the width of every activity mask.
    """

    def __init__(self, days: int):
        self.days = days
        self.parts: list[dict] = []
        self.masks: list[np.ndarray] = []

    def add(self, n: int, kind: str, active: np.ndarray, **cols) -> slice:
        """Add ``n`` accounts; scalar columns are broadcast. Returns their rows (before freezing).

        Args:
            n: the number of accounts in the group.
            kind: the account kind, one of ``ACCOUNT_KINDS``.
            active: the group's activity mask, reshapeable to (n, days) bool; a row with no active day
                gets day 0.
            **cols: values of ``COLUMNS`` (a scalar for the whole group or n values); ``weight`` (expected
                records per account), ``home``, ``signup`` and ``ua`` have no default and must be given,
                the others default to "none"/empty/-1 values.

        Returns:
            The group's rows in the frozen table, ``slice(start, start + n)``.

        Raises:
            ValueError: a column has a number of values other than n.
            KeyError: ``kind`` is not an account kind, or a column without default is missing.
        """
        start = sum(len(m) for m in self.masks)
        row = {"kind": KIND[kind], "group": -1, "tz": 0, "lang": "en", "persona": 0, "alt": -1, "param": 0.0, "topic": 0,
               "operator": "", "op_kind": "", "program": "none", "pay": None, "payment_type": "none",
               "payment_bin": "", "payment_country": "", "email_domain": ""} | cols
        part = {}
        for c in COLUMNS:
            v = row[c]
            if np.ndim(v) == 0:  # one value for the whole group
                arr = np.empty(n, object) if isinstance(v, (str, type(None))) else np.full(n, v)
                if arr.dtype == object:
                    arr.fill(v)
            else:
                arr = np.asarray(v, dtype=object if c in OBJECT_COLUMNS else None)
            if len(arr) != n:
                raise ValueError(f"column {c} has {len(arr)} values for {n} accounts")
            part[c] = arr
        self.parts.append(part)
        mask = np.asarray(active, bool).reshape(n, self.days).copy()
        mask[~mask.any(1), 0] = True  # every account is active on at least one day
        self.masks.append(mask)
        return slice(start, start + n)

    def weight(self, rows: slice) -> float:
        """Sum of the expected records of ``rows``.

        Args:
            rows: rows as :meth:`add` returned them (a slice with step 1; may span several groups).

        Returns:
            The sum of the ``weight`` column over those rows.
        """
        out, start = 0.0, 0
        for p in self.parts:
            n = len(p["kind"])
            lo, hi = max(rows.start, start), min(rows.stop, start + n)
            if lo < hi:
                out += float(np.sum(p["weight"][lo - start:hi - start]))
            start += n
        return out

    def total(self) -> float:
        return float(sum(np.sum(p["weight"]) for p in self.parts))

    def freeze(self, rng: np.random.Generator) -> Accounts:
        """Concatenate the groups into the account table and give every account a random id.

        Args:
            rng: the scenario's generator, for the ids (``acct_`` + 10 hex digits, all distinct, independent
                of kind and group).

        Returns:
            The table: columns in the order rows were added, the (accounts, days) activity mask, the ids.
        """
        cols = {c: np.concatenate([p[c] for p in self.parts]) for c in COLUMNS}
        for c in OBJECT_COLUMNS:
            cols[c] = cols[c].astype(object)
        n = len(cols["kind"])
        while True:  # random ids: an account's id says nothing about its kind or group
            raw = rng.integers(0, 1 << 40, n)
            if len(np.unique(raw)) == n:
                break
        ids = np.array([f"acct_{x:010x}" for x in raw.tolist()], dtype=object)
        return Accounts(cols=cols, active=np.concatenate(self.masks), ids=ids)


def random_days(rng: np.random.Generator, n: int, days: int, k: np.ndarray) -> np.ndarray:
    """(n, days) mask with ``k[i]`` random active days in row i.

    Args:
        rng: the generator the days are drawn from.
        n: the number of rows (accounts).
        days: the number of columns (days).
        k: (n,) active days per row, clipped to [1, days].

    Returns:
        (n, days) bool mask, row i with exactly ``clip(k[i], 1, days)`` True entries, uniformly placed.
    """
    ranks = rng.random((n, days)).argsort(1).argsort(1)
    return ranks < np.clip(k, 1, days)[:, None]


def span_days(rng: np.random.Generator, start: np.ndarray, end: np.ndarray, days: int, p: float | np.ndarray
              ) -> np.ndarray:
    """(n, days) mask: each day in [start, end) (in days) active with probability ``p``; at least one.

    Args:
        rng: the generator the days are drawn from.
        start: (n,) first day of each account's span, in (fractional) days; floored.
        end: (n,) end of each span, in days, exclusive; rounded up.
        days: the number of columns (days).
        p: the probability that a day inside the span is active: one for all, or (n,) per account.

    Returns:
        (n, days) bool mask; a row that drew no day gets its span's first day (clipped into range).
    """
    d = np.arange(days)[None, :]
    inside = (d >= np.floor(start)[:, None]) & (d < np.ceil(end)[:, None])
    mask = inside & (rng.random(inside.shape) < np.asarray(p).reshape(-1, 1))
    first = np.clip(np.floor(start).astype(int), 0, days - 1)
    empty = ~mask.any(1)
    mask[np.flatnonzero(empty), first[empty]] = True
    return mask
