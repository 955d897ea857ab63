"""Classifiers that tell sources apart from their answers, split by prompt, with an open-set threshold.

Two kinds: ``tfidf`` (word 1–2-grams + character 2–5-grams, TF-IDF, multinomial logistic regression: the
baseline of Sun et al. 2025) and ``embedding`` (all-MiniLM-L6-v2 sentence embeddings + a logistic-regression
head). Both are evaluated out of fold with :class:`~sklearn.model_selection.GroupKFold` over prompt groups, so
no prompt — nor any translation of it — is in both the training and the test part of a fold.

The open-set rule: a text whose highest source probability is below a threshold is "none of these". The
threshold is the highest one that costs at most ``target_loss`` of in-set accuracy on out-of-fold
predictions (texts correctly attributed, then rejected), so its price on known sources is fixed in advance;
how often texts of a source outside the N still get forced onto one of them is then measured, not assumed.
"""

from __future__ import annotations

import numpy as np

KINDS = ("tfidf", "embedding")
NONE = "none of these"


def tfidf_pipeline(seed: int = 0, C: float = 10.0):
    """Word + character n-gram TF-IDF features and a multinomial logistic regression.

    Args:
        seed: random state of the solver.
        C: inverse regularization strength.

    Returns:
        An unfitted scikit-learn Pipeline taking raw strings.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                                 token_pattern=r"(?u)\b\w+\b|[^\w\s]", lowercase=False)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
    ])
    return Pipeline([("features", features), ("clf", LogisticRegression(C=C, max_iter=3000, random_state=seed))])


def head(seed: int = 0, C: float = 10.0):
    """The linear head of the embedding classifier (on unit-norm MiniLM embeddings).

    Args:
        seed: random state of the solver.
        C: inverse regularization strength.

    Returns:
        An unfitted LogisticRegression.
    """
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=3000, random_state=seed)


def make(kind: str, seed: int = 0):
    """An unfitted classifier of ``kind`` (its input: strings for tfidf, embeddings for embedding).

    Args:
        kind: one of :data:`KINDS`.
        seed: random state.

    Returns:
        The estimator.

    Raises:
        ValueError: an unknown kind.
    """
    if kind == "tfidf":
        return tfidf_pipeline(seed)
    if kind == "embedding":
        return head(seed)
    raise ValueError(f"classifier kind {kind!r} is unknown; use one of {KINDS}.")


def out_of_fold(kind: str, X, y: np.ndarray, groups: np.ndarray, folds: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold source probabilities: each row scored by a model that saw none of its prompt group.

    Args:
        kind: one of :data:`KINDS`.
        X: the inputs, aligned with ``y`` (a list of strings, or an (N, d) array of embeddings).
        y: (N,) source labels (str).
        groups: (N,) prompt group of each row; a group never straddles train and test.
        folds: number of GroupKFold folds (at most the number of groups).
        seed: random state of the classifiers.

    Returns:
        (probabilities, classes): (N, K) float array, its columns in the order of the (K,) sorted ``classes``.

    Raises:
        ValueError: fewer than 2 groups or 2 sources.
    """
    from sklearn.model_selection import GroupKFold

    classes = np.array(sorted(set(y.tolist())))
    n_groups = len(set(groups.tolist()))
    if n_groups < 2 or len(classes) < 2:
        raise ValueError(f"need at least 2 prompt groups and 2 sources, got {n_groups} groups and {len(classes)} sources.")
    proba = np.zeros((len(y), len(classes)))
    for tr, te in GroupKFold(n_splits=min(folds, n_groups)).split(np.zeros(len(y)), y, groups):
        model = make(kind, seed).fit(_take(X, tr), y[tr])
        cols = np.searchsorted(classes, model.classes_)  # a fold may miss a source: its column stays 0
        proba[np.ix_(te, cols)] = model.predict_proba(_take(X, te))
    return proba, classes


def _take(X, idx):
    return [X[i] for i in idx] if isinstance(X, list) else X[idx]


def open_set_threshold(proba: np.ndarray, y: np.ndarray, classes: np.ndarray, target_loss: float) -> float:
    """The highest max-probability threshold that rejects at most ``target_loss`` of all in-set rows among those
    correctly attributed (so in-set accuracy drops by at most ``target_loss``).

    A row is "none of these" when its highest probability is < the threshold.

    Args:
        proba: (N, K) out-of-fold probabilities of in-set rows.
        y: (N,) their true sources.
        classes: (K,) the column labels of ``proba``.
        target_loss: the most in-set accuracy (a fraction of N) the rule may cost, in [0, 1).

    Returns:
        The threshold (0.0: nothing can be rejected within the target).
    """
    maxp = proba.max(axis=1)
    correct = np.sort(maxp[classes[proba.argmax(axis=1)] == y])
    k = int(np.floor(target_loss * len(y) + 1e-9))  # correct rows we may lose
    if k >= len(correct):
        return float(np.nextafter(correct[-1], np.inf)) if len(correct) else 1.0
    # rejecting maxp < correct[k] loses the k smallest correct rows (fewer when values tie)
    return float(correct[k]) if k > 0 else float(correct[0])


def decide(proba: np.ndarray, classes: np.ndarray, threshold: float) -> np.ndarray:
    """Each row's source, or :data:`NONE` when its highest probability is below ``threshold``.

    Args:
        proba: (N, K) probabilities.
        classes: (K,) labels of the columns.
        threshold: the open-set threshold.

    Returns:
        (N,) object array of labels.
    """
    out = classes[proba.argmax(axis=1)].astype(object)
    out[proba.max(axis=1) < threshold] = NONE
    return out
