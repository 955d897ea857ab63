"""Retrieval over the documentation chunks: the baseline a user gets with no training at all.

A TF-IDF index (scikit-learn's ``TfidfVectorizer``, word unigrams and bigrams, sublinear term frequency)
over the chunks; a question's top-k chunks by cosine go into the prompt of an untrained model
(`distill docs eval`'s retrieval baseline) or of the trained student (its retrieval-augmented mode).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Index:
    """A TF-IDF index over chunk texts.

    Args:
        ids: the chunk ids, in index order.
        texts: the chunk texts, in the same order.
    """

    ids: list[str]
    texts: list[str]

    def __post_init__(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not self.ids:
            raise ValueError("the retrieval index needs at least one chunk; is the data set's chunks.jsonl empty?")
        self._vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, stop_words="english")
        self._m = self._vec.fit_transform(self.texts)  # (n_chunks, vocabulary), rows of unit length

    def search(self, query: str, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` chunks most similar to ``query``, best first (ties: index order).

        Args:
            query: the question.
            k: how many chunks.

        Returns:
            [(chunk id, cosine similarity)], at most ``k``.
        """
        import numpy as np

        sims = (self._m @ self._vec.transform([query]).T).toarray().ravel()  # (n_chunks,)
        order = np.lexsort((np.arange(len(sims)), -sims))[:k]  # by similarity, then index order
        return [(self.ids[i], round(float(sims[i]), 4)) for i in order]


def context_prompt(question: str, passages: list[str]) -> str:
    """The user message of a retrieval-augmented (or source-chunk) answer.

    Args:
        question: the user's question.
        passages: documentation passages, best first.

    Returns:
        The prompt: the passages, then the question, with the instruction to say when they do not answer it.
    """
    docs = "\n\n---\n\n".join(p.strip() for p in passages)
    return (f"Documentation:\n{docs}\n\nAnswer the question from the documentation above. If it does not "
            f"answer the question, say that the documentation does not say.\n\nQuestion: {question}")
