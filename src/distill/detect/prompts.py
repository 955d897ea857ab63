"""Is a prompt eliciting chain-of-thought or systematically extracting capabilities?

Two views, combined by "either": a learned classifier (TF-IDF over hashed UTF-8 byte n-grams +
logistic regression, so it reads any script and tolerates inflections and typos; the n-grams are
hashed with numpy over a whole batch at once, many times faster than scikit-learn's per-string
analyzer, which matters at millions of prompts) trained at first use on
the labelled multilingual prompts shipped in ``data/prompts_train.tsv`` (~1 s; nothing pickled),
and a short list of multilingual patterns for the phrasings that are unambiguous. Keywords alone
miss paraphrases; the model alone can miss rare languages: together they cover both.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import numpy as np

# Unambiguous phrasings, matched as lower-case substrings (fast: no regex engine for most of them).
# Asking for steps is not among them: "explain step by step" is what students and their parents
# write about one problem of their own (see the labelling rule in data/prompts_train.tsv); only
# demands for the reasoning trace itself are.
PHRASES = (
    "chain of thought", "chain-of-thought", "<think", "</think", "scratchpad", "scratch pad", "reasoning trace",
    "full reasoning trace", "internal monologue", "inner monologue", "think aloud", "think out loud",
    "thinking aloud", "chaîne de pensée", "raisonnement complet", "gedankenkette", "denkprozess vollständig",
    "cadena de pensamiento", "cadeia de pensamento", "catena di pensiero", "思维链", "推理过程", "思考过程",
    "цепочка рассуждений", "цепочку рассуждений", "ход рассуждений", "思考の連鎖", "推論過程", "사고 과정", "추론 과정",
    "düşünce zinciri", "gedachtegang",
)
PATTERNS = re.compile(r"\b(show|write out|lay out|narrate) (all )?(your|the|every|each) "
                      r"(reasoning|thought process|thinking|work\b)")


def _clip(texts) -> list[str]:
    """Head and tail of each prompt: instructions sit at either end, and long bodies cost time."""
    return [t if len(t) <= 320 else t[:160] + " … " + t[-160:] for t in texts]


TRAINING_FILES = ("prompts_train.tsv", "prompts_train_more.tsv")  # the second: written apart, blind to the evaluations


def training_set() -> tuple[list[str], np.ndarray]:
    """The shipped labelled prompts: every file of ``TRAINING_FILES``, in that order.

    Returns:
        (prompts, labels) as :func:`read_corpus` gives them.
    """
    x, y, _ = training_rows()
    return x, y


def training_rows() -> tuple[list[str], np.ndarray, list[str]]:
    """The shipped labelled prompts with their categories: every file of ``TRAINING_FILES``, in that order.

    Returns:
        (prompts, labels, categories) as :func:`read_rows` gives them.
    """
    x, y, c = [], [], []
    for name in TRAINING_FILES:
        t, lab, cat = read_rows(resources.files("distill.detect").joinpath("data", name).read_text(encoding="utf-8"))
        x += t
        y.append(lab)
        c += cat
    return x, np.concatenate(y), c


def read_corpus(text: str) -> tuple[list[str], np.ndarray]:
    """Prompts and labels of a corpus file: ``label<TAB>category<TAB>lang<TAB>prompt`` (``\\n`` = newline).

    Args:
        text: the file's contents; blank lines and ``#`` lines are skipped.

    Returns:
        (prompts, labels): the prompts (n), and labels (n,) int, 1 for extraction.
    """
    x, y, _ = read_rows(text)
    return x, y


def read_rows(text: str) -> tuple[list[str], np.ndarray, list[str]]:
    """Prompts, labels and categories of a corpus file (the format of :func:`read_corpus`).

    Args:
        text: the file's contents; blank lines and ``#`` lines are skipped.

    Returns:
        (prompts (n), labels (n,) int, categories (n): the second column, "" where a row has none).
    """
    rows = [line.split("\t", 3) for line in text.splitlines() if line and not line.startswith("#")]
    return ([r[-1].replace("\\n", "\n") for r in rows], np.array([int(r[0]) for r in rows]),
            [r[1] if len(r) == 4 else "" for r in rows])


N_FEATURES = 1 << 18
NGRAMS = (3, 4, 5, 6)  # bytes: about 1–6 Latin characters, 1–2 CJK characters


def ngrams(texts) -> tuple[np.ndarray, np.ndarray]:
    """Every hashed byte n-gram occurrence of the lower-cased texts: (text index, feature), both (m,).

    Args:
        texts: the prompts (n).

    Returns:
        (text index, feature in [0, N_FEATURES)), both int64 (m,), one pair per n-gram occurrence.
    """
    enc = [(" " + t.lower() + " ").encode("utf-8", "replace") for t in texts]
    lens = np.fromiter((len(e) for e in enc), np.int64, len(enc))
    buf = np.frombuffer(b"".join(enc), np.uint8).astype(np.uint32)
    doc = np.repeat(np.arange(len(enc)), lens)
    docs, feats = [], []
    for n in NGRAMS:
        m = len(buf) - n + 1
        if m <= 0:
            continue
        h = np.full(m, 2166136261 ^ n, np.uint32)
        for k in range(n):  # FNV-1a style hash of the window buf[i : i + n]; uint32 overflow wraps
            h = (h ^ buf[k : k + m]) * np.uint32(16777619)
        inside = doc[:m] == doc[n - 1 :]  # windows that do not cross into the next text
        docs.append(doc[:m][inside])
        feats.append(h[inside] % N_FEATURES)
    if not docs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(docs), np.concatenate(feats).astype(np.int64)


@functools.lru_cache(maxsize=1)
def model() -> tuple[np.ndarray, np.ndarray, float]:
    """(idf, weight per feature, bias), fitted on the shipped set (deterministic: liblinear).

    A text's features are x_f = count_f · idf_f / sqrt(Σ_g count_g · idf_g²): TF-IDF with a norm
    that is a plain sum over n-gram occurrences, so that scoring millions of prompts needs no
    sort or sparse matrix — two ``bincount`` calls (see ``probability``).
    """
    x, y = training_set()
    X, idf = features(x)
    lr = fit(X, y)
    return idf, lr.coef_[0], float(lr.intercept_[0])


def features(texts, idf: np.ndarray | None = None):
    """The classifier's sparse features (n, N_FEATURES) of ``texts`` and the IDF used (fitted on them if None).

    Args:
        texts: the prompts (n); each is clipped to its head and tail first.
        idf: IDF per feature (N_FEATURES,), or None to fit it on ``texts``.

    Returns:
        (X, idf): the CSR matrix (n, N_FEATURES) and the IDF (N_FEATURES,).
    """
    import scipy.sparse as sp

    doc, feat = ngrams(_clip(texts))
    if idf is None:
        present = np.unique(doc * N_FEATURES + feat) % N_FEATURES
        idf = np.log((1 + len(texts)) / (1 + np.bincount(present, minlength=N_FEATURES))) + 1
    norm = np.sqrt(np.bincount(doc, idf[feat] ** 2, minlength=len(texts)))
    return sp.csr_matrix((idf[feat] / norm[doc], (doc, feat)), shape=(len(texts), N_FEATURES)), idf


def fit(X, y):
    """The classifier's logistic regression (C = 10 and threshold 0.5 chosen by 5-fold CV on the training set).

    Args:
        X: features (n, N_FEATURES), as :func:`features` gives.
        y: labels (n,), 1 for extraction.

    Returns:
        The fitted scikit-learn ``LogisticRegression``.
    """
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=10.0, class_weight="balanced", solver="liblinear", max_iter=1000).fit(X, y)


def _batch_features(chunk: list[str], idf: np.ndarray):
    """(doc, feat, norm per text): the TF-IDF of :func:`features` is idf[feat] / norm[doc] per occurrence."""
    doc, feat = ngrams(chunk)
    return doc, feat, np.maximum(np.sqrt(np.bincount(doc, idf[feat] ** 2, minlength=len(chunk))), 1e-9)


def probability(texts, batch: int = 20_000) -> np.ndarray:
    """Learned probability that each prompt elicits reasoning or extracts capabilities, (n,) float.

    Args:
        texts: the prompts (n).
        batch: prompts scored at once (bounds memory).

    Returns:
        Probabilities (n,) float in (0, 1).
    """
    texts = _clip(texts)
    idf, w, b = model()
    out = []
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        doc, feat, norm = _batch_features(chunk, idf)  # the norm divides per text, not per occurrence: faster
        out.append(1 / (1 + np.exp(-(np.bincount(doc, idf[feat] * w[feat], minlength=len(chunk)) / norm + b))))
    return np.concatenate(out) if out else np.zeros(0)


def _hit(text: str) -> bool:
    t = text.lower()
    return any(p in t for p in PHRASES) or PATTERNS.search(t) is not None


def pattern_hit(texts) -> np.ndarray:
    """Whether each prompt contains one of the multilingual stock phrases, (n,) bool.

    Args:
        texts: the prompts (n); each is clipped to its head and tail first.

    Returns:
        Booleans (n,).
    """
    return np.fromiter((_hit(t) for t in _clip(texts)), bool, len(texts))


def classify(texts, threshold: float = 0.5) -> np.ndarray:
    """1 where the prompt elicits chain-of-thought / extracts capabilities (model or pattern), (n,) int8.

    Args:
        texts: the prompts (n).
        threshold: the model's probability at or above which a prompt is extraction.

    Returns:
        0/1 per prompt (n,), int8.
    """
    texts = list(texts)
    if not texts:
        return np.zeros(0, np.int8)
    out = probability(texts) >= threshold
    rest = np.flatnonzero(~out)  # phrases only matter where the model said no
    out[rest] = pattern_hit([texts[i] for i in rest])
    return out.astype(np.int8)


# What an extraction prompt is after, as the shipped corpora name it (label 1 rows). Operators have goals (a
# reasoning harvest, an agent-trajectory harvest, a topic sweep): accounts that share a proxy pool but not a goal
# are not one operator (evidence.split_by_goal).
GOALS = ("agentic", "coding", "cot_elicit", "probe", "reasoning", "sweep")


@functools.lru_cache(maxsize=1)
def goal_model() -> tuple[np.ndarray, np.ndarray]:
    """(weights (G, N_FEATURES), biases (G,)): a one-vs-rest linear SVM over ``GOALS``, fitted on the shipped
    extraction prompts (label 1) with the features (and IDF) of the extraction model (deterministic: seeded).

    A linear SVM, not a multinomial logistic regression: 87% vs 86% on the held-out prompts' goals
    (tests/detect/heldout_prompts.tsv; the SVM with this shared IDF) and ~2 s to fit instead of ~50.
    """
    from sklearn.svm import LinearSVC

    x, y, c = training_rows()
    keep = [i for i in range(len(x)) if y[i] == 1 and c[i] in GOALS]
    X, _ = features([x[i] for i in keep], model()[0])
    svm = LinearSVC(C=1.0, random_state=0).fit(X, np.array([GOALS.index(c[i]) for i in keep]))
    return svm.coef_, svm.intercept_


def goal(texts, batch: int = 20_000) -> np.ndarray:
    """The most likely goal of each extraction prompt, as an index into ``GOALS``, (n,) int8.

    Args:
        texts: extraction prompts (n) (any prompt gets an answer; only extraction prompts mean something).
        batch: prompts scored at once (bounds memory).

    Returns:
        Indices into ``GOALS`` (n,), int8; ties go to the first goal.
    """
    import scipy.sparse as sp

    texts = _clip(list(texts))
    idf = model()[0]
    w, b = goal_model()
    out = []
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        doc, feat, norm = _batch_features(chunk, idf)
        X = sp.csr_matrix((idf[feat] / norm[doc], (doc, feat)), shape=(len(chunk), N_FEATURES))
        out.append(np.argmax(X @ w.T + b, axis=1).astype(np.int8))
    return np.concatenate(out) if out else np.zeros(0, np.int8)
