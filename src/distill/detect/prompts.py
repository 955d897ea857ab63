"""Is a prompt eliciting chain-of-thought or systematically extracting capabilities?

Two views, combined by "either": a learned classifier (TF-IDF over hashed UTF-8 byte n-grams +
logistic regression, so it reads any script and tolerates inflections and typos; the n-grams are
hashed with numpy over a whole batch at once, ~50× faster than scikit-learn's per-string analyzer,
which matters at millions of prompts) trained at first use on
the labelled multilingual prompts shipped in ``data/prompts_train.tsv`` (~1 s; nothing pickled),
and a short list of multilingual patterns for the phrasings that are unambiguous. Keywords alone
miss paraphrases; the model alone can miss rare languages: together they cover both.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import numpy as np

PATTERNS = re.compile(
    "|".join([
        r"step[- ]by[- ]step", r"one step at a time", r"chain[- ]of[- ]thought", r"<think", r"scratch ?pad",
        r"(show|explain|write out|lay out|narrate|include|give)\b.{0,40}\b(reasoning|thought process|thinking|"
        r"derivation|work\b|every step|all steps|intermediate)",
        r"reasoning (trace|process|steps|chain)", r"think(ing)? (aloud|out loud|through)",
        r"étape par étape", r"raisonnement", r"schritt für schritt", r"denkschritt", r"gedankengang",
        r"paso a paso", r"razonamiento", r"passo a passo", r"raciocínio", r"passo dopo passo",
        r"一步一步", r"逐步", r"推理过程", r"思考过程", r"шаг за шагом", r"рассужден", r"по шагам",
        r"ステップバイステップ", r"推論", r"段階的", r"단계별", r"추론 과정", r"adım adım", r"stap voor stap",
    ]),
    re.IGNORECASE,
)


def _clip(texts) -> list[str]:
    """Head and tail of each prompt: instructions sit at either end, and long bodies cost time."""
    return [t if len(t) <= 400 else t[:200] + " … " + t[-200:] for t in texts]


def training_set() -> tuple[list[str], np.ndarray]:
    text = resources.files("distill.detect").joinpath("data/prompts_train.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return [r[1] for r in rows], np.array([int(r[0]) for r in rows])


N_FEATURES = 1 << 18
NGRAMS = (3, 4, 5, 6)  # bytes: about 1–6 Latin characters, 1–2 CJK characters


def ngram_counts(texts) -> "scipy.sparse.csr_matrix":
    """Counts of hashed byte n-grams of each lower-cased text, (n, N_FEATURES) sparse."""
    import scipy.sparse as sp

    enc = [(" " + t.lower() + " ").encode("utf-8", "replace") for t in texts]
    lens = np.fromiter((len(e) for e in enc), np.int64, len(enc))
    buf = np.frombuffer(b"".join(enc), np.uint8).astype(np.uint64)
    doc = np.repeat(np.arange(len(enc)), lens)
    rows, cols = [], []
    for n in NGRAMS:
        m = len(buf) - n + 1
        if m <= 0:
            continue
        h = np.full(m, n, np.uint64)
        for k in range(n):  # polynomial hash of the window buf[i : i + n]; uint64 overflow wraps
            h = h * np.uint64(1_000_003) + buf[k : k + m]
        inside = doc[:m] == doc[n - 1 :]  # windows that do not cross into the next text
        rows.append(doc[:m][inside])
        cols.append((h[inside] % np.uint64(N_FEATURES)).astype(np.int64))
    r, c = (np.concatenate(rows), np.concatenate(cols)) if rows else (np.zeros(0, int), np.zeros(0, int))
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(len(enc), N_FEATURES))


@functools.lru_cache(maxsize=1)
def model():
    """(TF-IDF transformer, logistic regression) fitted on the shipped set (deterministic: liblinear)."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    x, y = training_set()
    tfidf = TfidfTransformer(sublinear_tf=True).fit(ngram_counts(_clip(x)))
    lr = LogisticRegression(C=10.0, class_weight="balanced", solver="liblinear", max_iter=1000)
    return tfidf, lr.fit(tfidf.transform(ngram_counts(_clip(x))), y)


def probability(texts, batch: int = 20_000) -> np.ndarray:
    """Learned probability that each prompt elicits reasoning or extracts capabilities, (n,) float."""
    texts = _clip(texts)
    tfidf, lr = model()
    out = [lr.predict_proba(tfidf.transform(ngram_counts(texts[i : i + batch])))[:, 1]
           for i in range(0, len(texts), batch)]
    return np.concatenate(out) if out else np.zeros(0)


def pattern_hit(texts) -> np.ndarray:
    """Whether each prompt matches one of the multilingual patterns, (n,) bool."""
    return np.array([PATTERNS.search(t) is not None for t in _clip(texts)], dtype=bool)


def classify(texts, threshold: float = 0.5) -> np.ndarray:
    """1 where the prompt elicits chain-of-thought / extracts capabilities (model or pattern), (n,) int8."""
    texts = list(texts)
    if not texts:
        return np.zeros(0, np.int8)
    return ((probability(texts) >= threshold) | pattern_hit(texts)).astype(np.int8)
