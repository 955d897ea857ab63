"""Saving and loading attribution classifiers: skops with an exact allow-list, and a JSON card beside it.

``attribution.json`` holds what a prediction needs besides the estimator (the sources, the open-set
threshold, the classifier kind and its embedder); ``tfidf.skops`` / ``embedding.skops`` hold the estimators.
A skops file naming any type outside :data:`ALLOWED_TYPES` (built by anything outside :data:`ALLOWED_LOADERS`)
is refused before skops builds a single object, as `distill tabular run`'s students are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from distill.files import atomic_bytes, atomic_json

# Every type a saved attribution classifier holds: the TF-IDF pipeline and the logistic-regression head.
ALLOWED_TYPES = frozenset({
    "builtins.dict", "builtins.list", "builtins.tuple", "builtins.str", "builtins.int", "builtins.float",
    "builtins.bool", "builtins.NoneType", "numpy.ndarray", "numpy.float64", "numpy.int64",
    "sklearn.pipeline.Pipeline", "sklearn.pipeline.FeatureUnion",
    "sklearn.feature_extraction.text.TfidfVectorizer", "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
})
ALLOWED_LOADERS = frozenset({"DictNode", "ListNode", "TupleNode", "JsonNode", "ObjectNode", "NdArrayNode", "TypeNode"})


@dataclass
class Card:
    """What ``predict`` needs besides the estimator.

    ``kind``: "tfidf" or "embedding"; ``classes``: the sources, in the estimator's column order;
    ``threshold``: the open-set threshold on the highest probability; ``target_loss``: the in-set accuracy it
    was allowed to cost; ``embedder``: the embedding model (embedding kind only).
    """

    kind: str
    classes: list[str]
    threshold: float
    target_loss: float
    embedder: str = ""


def save(folder: str | Path, estimator, card: Card) -> Path:
    """Write ``<kind>.skops`` and add the card to ``attribution.json`` in ``folder``.

    Args:
        folder: the output folder.
        estimator: the fitted estimator.
        card: its card.

    Returns:
        The skops file's path.
    """
    import skops.io as sio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{card.kind}.skops"
    atomic_bytes(path, sio.dumps(estimator))
    cards = read_cards(folder) if (folder / "attribution.json").exists() else {}
    cards[card.kind] = asdict(card)
    atomic_json(folder / "attribution.json", {"classifiers": cards})
    return path


def read_cards(folder: str | Path) -> dict[str, dict]:
    """The cards in ``folder/attribution.json``, by kind.

    Args:
        folder: a folder written by `distill detect attribution-train`.

    Returns:
        kind → card fields.

    Raises:
        FileNotFoundError: no attribution.json there.
    """
    path = Path(folder) / "attribution.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; train a classifier with `distill detect attribution-train`.")
    return json.loads(path.read_text("utf-8"))["classifiers"]


def load(folder: str | Path, kind: str):
    """The estimator and card of ``kind`` saved in ``folder``, after checking every type the file names.

    Args:
        folder: a folder written by `distill detect attribution-train`.
        kind: "tfidf" or "embedding".

    Returns:
        (estimator, card).

    Raises:
        FileNotFoundError: the folder has no classifier of that kind.
        ValueError: the file names types or loaders outside the allow-lists, or is not a classifier.
    """
    import skops.io as sio

    from distill.tabular.run import _schema_types

    cards = read_cards(folder)
    path = Path(folder) / f"{kind}.skops"
    if kind not in cards or not path.is_file():
        raise FileNotFoundError(f"{folder} holds no {kind!r} classifier (it has: {sorted(cards)}).")
    types, loaders = _schema_types(path)
    foreign, odd = sorted(types - ALLOWED_TYPES), sorted(loaders - ALLOWED_LOADERS)
    if foreign or odd:
        raise ValueError(f"{path} holds types {foreign} / skops loaders {odd}, which an attribution classifier never "
                         "contains; not loading it (a crafted file could run code).")
    untrusted = sio.get_untrusted_types(file=path)
    if set(untrusted) - ALLOWED_TYPES:
        raise ValueError(f"{path} holds types {sorted(set(untrusted) - ALLOWED_TYPES)}; not loading it.")
    est = sio.load(path, trusted=untrusted)
    if not hasattr(est, "predict_proba"):
        raise ValueError(f"{path} holds a {type(est).__name__}, not a classifier; not using it.")
    card = Card(**cards[kind])
    if [str(c) for c in np.asarray(est.classes_)] != card.classes:
        raise ValueError(f"{path}: the classifier's sources {list(est.classes_)} differ from its card's {card.classes}.")
    return est, card
