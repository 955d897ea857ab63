"""Traffic-level shift: has what is asked of a model this hour moved away from its usual traffic?

Account scans find operators; a shift test finds that *something* changed, even when the accounts
behind it are new, few or careful. Per (hour, model) window, the maximum mean discrepancy (MMD,
Gretton et al. 2012) between the window's prompt embeddings and an equally large sample of the
model's baseline window (its first ``baseline_hours`` of traffic) is compared with a threshold
calibrated benign-vs-benign: the ``quantile`` of the MMD between two disjoint samples of the
baseline itself, so that ordinary traffic crosses it in about 1 − quantile of windows.

Embeddings: ``lsa`` (default) is latent semantic analysis of the prompt classifier's TF-IDF byte
n-grams, fitted on each model's baseline (any script, fast, nothing to install); ``minilm`` uses
all-MiniLM-L6-v2 from the offline package the docs pipeline uses, for meaning over wording
(slower: a few hundred prompts per second per core).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DIM = 64


def tfidf(texts):
    """Unit-norm TF-IDF rows over the prompt classifier's hashed byte n-grams: sparse (n, N_FEATURES).

    Args:
        texts: the prompts (n); each is clipped to its head and tail first.

    Returns:
        CSR matrix (n, N_FEATURES), rows of unit L2 norm, weighted by the prompt classifier's IDF.
    """
    import scipy.sparse as sp

    from distill.detect import prompts as P

    texts = P._clip(list(texts))
    idf, _, _ = P.model()
    doc, feat = P.ngrams(texts)
    x = sp.csr_matrix((idf[feat], (doc, feat)), shape=(len(texts), P.N_FEATURES))
    x.sum_duplicates()
    norm = np.sqrt(np.asarray(x.multiply(x).sum(1)).ravel())
    return sp.diags(1 / np.maximum(norm, 1e-9)) @ x


class LSA:
    """Latent semantic embedding fitted on the baseline: TF-IDF n-grams → ``DIM`` SVD axes, unit rows.

    Fitted per model on its baseline (seeded randomized SVD), so its axes are what usual traffic
    varies along; any script, thousands of prompts per second, nothing to install.

    Args:
        seed: seed of the randomized SVD.
    """

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, texts) -> LSA:
        """Fit the SVD axes on baseline prompts (at most ``DIM``, fewer for a small baseline).

        Args:
            texts: the baseline prompts (the SVD needs at least 2).

        Returns:
            ``self``, fitted; calling it on texts (n) then gives unit rows (n, dim) float32.
        """
        from sklearn.decomposition import TruncatedSVD

        x = tfidf(texts)
        # only the n-grams the baseline has can carry weight: a compact vocabulary keeps the
        # projection a small dense matrix instead of N_FEATURES rows
        self.cols = np.unique(x.indices)
        x = x[:, self.cols]
        svd = TruncatedSVD(min(DIM, x.shape[0] - 1, x.shape[1] - 1), random_state=self.seed).fit(x)
        self.w = np.ascontiguousarray(svd.components_.T, dtype=np.float64)
        return self

    def __call__(self, texts) -> np.ndarray:
        e = np.asarray(tfidf(texts)[:, self.cols] @ self.w)
        return (e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-9)).astype(np.float32)


class MiniLM:
    """all-MiniLM-L6-v2 sentence embeddings (pip install 'distill[docs]'), for meaning over wording.

    Args:
        seed: unused (the embedding is not fitted); accepted so every embedder is built alike.
    """

    def __init__(self, seed: int = 0):
        from distill.docs.quality import load_embedder

        self.embed = load_embedder()

    def fit(self, texts) -> MiniLM:
        """Nothing to fit: the same interface as :meth:`LSA.fit`.

        Args:
            texts: ignored.

        Returns:
            ``self``.
        """
        return self

    def __call__(self, texts) -> np.ndarray:
        return self.embed(list(texts))


EMBEDDERS = {"lsa": LSA, "minilm": MiniLM}


def kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """Gaussian kernel matrix exp(−γ‖a_i − b_j‖²), (len(a), len(b)).

    Args:
        a: points (m, d).
        b: points (n, d).
        gamma: the kernel's γ > 0.

    Returns:
        The kernel matrix (m, n).
    """
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.exp(-gamma * np.maximum(d, 0))


def mmd2_from(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD² from the three kernel blocks of samples x (m) and y (n).

    Args:
        kxx: kernel of x with itself (m, m), m ≥ 2.
        kyy: kernel of y with itself (n, n), n ≥ 2.
        kxy: kernel of x with y (m, n).

    Returns:
        MMD², unbiased (may be slightly negative).
    """
    m, n = len(kxx), len(kyy)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def mmd2(x: np.ndarray, y: np.ndarray, gamma: float) -> float:
    """Unbiased MMD² between samples x (m, d) and y (n, d) under the kernel exp(−γ‖a − b‖²).

    Args:
        x: sample (m, d), m ≥ 2.
        y: sample (n, d), n ≥ 2.
        gamma: the kernel's γ > 0.

    Returns:
        MMD², unbiased (may be slightly negative).
    """
    return mmd2_from(kernel(x, x, gamma), kernel(y, y, gamma), kernel(x, y, gamma))


def bandwidth(x: np.ndarray) -> float:
    """γ = 1 / median squared distance between baseline points (the median heuristic).

    Args:
        x: baseline points (n, d), n ≥ 2.

    Returns:
        γ > 0 (the median is floored at 1e-6).
    """
    d = (x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * x @ x.T
    med = float(np.median(d[np.triu_indices(len(x), 1)]))
    return 1.0 / max(med, 1e-6)


SIZES = (30, 40, 50, 60, 80, 100, 125, 160, 200, 250, 320, 400, 500)  # windows are cut to one of these
REFERENCE = 2000  # baseline prompts kept as the reference sample


def scan(windows: pd.DataFrame, embedder: str = "lsa", baseline_hours: int = 24, min_n: int = 30,
         quantile: float = 0.997, trials: int = 300, seed: int = 0) -> pd.DataFrame:
    """One row per (model, hour) window after each model's baseline: n, mmd2, threshold, shifted.

    Args:
        windows: h (hour since the epoch), model, prompt: the sampled prompts of every window.
        embedder: ``lsa`` or ``minilm`` (``EMBEDDERS``).
        baseline_hours: the model's first hours that define "usual".
        min_n: windows with fewer prompts are not tested.
        quantile: of the benign-vs-benign MMD, in (0, 1): the threshold.
        trials: benign-vs-benign draws per window size.
        seed: of every draw (same seed, same table).

    Returns:
        Columns model, h, n (prompts compared, cut to one of ``SIZES``), mmd2, threshold and shifted
        (mmd2 > threshold). A model with fewer than 3·``min_n`` baseline prompts gets no rows.
    """
    from threadpoolctl import threadpool_limits

    cols = ["model", "h", "n", "mmd2", "threshold", "shifted"]
    if windows.empty:
        return pd.DataFrame(columns=cols)
    # thousands of small matrix products: BLAS threads cost far more in start-up than they save
    # (measured 0.06 ms per 100×100 kernel on one thread, 30 ms with a busy machine's thread pool)
    with threadpool_limits(1):
        return pd.DataFrame(_scan(windows, embedder, baseline_hours, min_n, quantile, trials, seed), columns=cols)


def _scan(windows, embedder, baseline_hours, min_n, quantile, trials, seed) -> list[tuple]:
    rows = []
    windows = windows.sort_values(["model", "h", "prompt"], kind="stable")
    for model, g in windows.groupby("model", sort=True):
        rng = np.random.default_rng([seed, int.from_bytes(str(model).encode()[:8].ljust(8, b"\0"), "little")])
        start = g["h"].min()
        base_p = g.loc[g["h"] < start + baseline_hours, "prompt"].tolist()
        later = g[g["h"] >= start + baseline_hours]
        if len(base_p) < 3 * min_n or later.empty:
            continue
        # the baseline in three disjoint parts: the embedding is fitted on one; windows are compared
        # with samples of the second (the reference); the threshold comes from samples of the third
        # (the probe) compared with the reference exactly as a window is, so that under "nothing
        # changed" a window and a probe sample are alike in every respect but their hour
        part = rng.permutation(len(base_p))
        third = len(part) // 3
        base_h = g.loc[g["h"] < start + baseline_hours, "h"].to_numpy()
        embed = EMBEDDERS[embedder](seed).fit([base_p[i] for i in part[:third]])
        ref = part[third : 2 * third][:REFERENCE]
        base = embed([base_p[i] for i in ref])
        probe = embed([base_p[i] for i in part[2 * third :][:REFERENCE]])
        hourly = {hb: np.flatnonzero(base_h == hb) for hb in np.unique(base_h)}
        gamma = bandwidth(base[:1000])
        kbb = kernel(base, base, gamma)  # once: every draw below is a block of these
        kpp, kpb = kernel(probe, probe, gamma), kernel(probe, base, gamma)
        thresholds: dict[int, float] = {}
        for h, w in later.groupby("h", sort=True):
            fits = [z for z in SIZES if z <= min(len(w), len(base), len(probe))]
            if not fits or fits[-1] < min_n:
                continue
            n = fits[-1]
            if n not in thresholds:
                null = []
                for _ in range(trials):
                    i, j = rng.permutation(len(probe))[:n], rng.permutation(len(base))[:n]
                    null.append(mmd2_from(kpp[np.ix_(i, i)], kbb[np.ix_(j, j)], kpb[np.ix_(i, j)]))
                thresholds[n] = float(np.quantile(null, quantile))
                # Traffic differs from hour to hour (time zones, deadlines, who is awake): each
                # baseline hour against the reference without that hour gives the MMD of ordinary
                # hour-to-hour change; a window must also stand out from those (median + 3 scaled MADs)
                hour_null = []
                for hb, own in hourly.items():
                    pool = np.flatnonzero(base_h[ref] != hb)
                    if len(own) < n or len(pool) < n:
                        continue
                    xi = embed([base_p[i] for i in np.sort(rng.permutation(own)[:n])])
                    j = np.sort(rng.permutation(pool)[:n])
                    hour_null.append(mmd2_from(kernel(xi, xi, gamma), kbb[np.ix_(j, j)], kernel(xi, base[j], gamma)))
                if len(hour_null) >= 6:
                    med = float(np.median(hour_null))
                    mad = 1.4826 * float(np.median(np.abs(np.asarray(hour_null) - med)))
                    thresholds[n] = max(thresholds[n], med + 3 * mad)
            texts = w["prompt"].tolist()  # sorted by text (for determinism): cut by a seeded draw, not the head
            x = embed([texts[i] for i in np.sort(rng.permutation(len(texts))[:n])])
            j = rng.permutation(len(base))[:n]
            v = mmd2_from(kernel(x, x, gamma), kbb[np.ix_(j, j)], kernel(x, base[j], gamma))
            rows.append((model, int(h), n, round(v, 6), round(thresholds[n], 6), v > thresholds[n]))
    return rows
