"""Synthetic sources with known separability: each writes answers from one shared vocabulary, with its own
word preferences (a Dirichlet draw per source) mixed with the shared ones at weight ``style``.

``style = 0``: every source draws from the same distribution — no classifier can beat chance.
``style = 1``: each source has its own word choice — easy to tell apart.
"""

from __future__ import annotations

import hashlib

import numpy as np

from distill.teachers.base import Completion

VOCAB = [f"w{i}" for i in range(300)]


def preferences(n_sources: int, style: float, seed: int = 0, concentration: float = 0.3) -> np.ndarray:
    """(n_sources, V) word distributions: shared · (1 − style) + own · style."""
    rng = np.random.default_rng(seed)
    shared = rng.dirichlet(np.full(len(VOCAB), 1.0))
    own = rng.dirichlet(np.full(len(VOCAB), concentration), size=n_sources)
    return (1 - style) * shared + style * own


def answer(pref: np.ndarray, prompt: str, salt: str, words: int = 25) -> str:
    """An answer: words of the prompt's own topic words plus ``words`` draws from ``pref``."""
    h = int(hashlib.sha256(f"{salt}|{prompt}".encode()).hexdigest()[:12], 16)
    rng = np.random.default_rng(h)
    topic = prompt.split()[-1].strip("?.") if prompt.split() else ""
    return " ".join([topic] + [VOCAB[i] for i in rng.choice(len(VOCAB), size=words, p=pref)])


def rows(n_sources: int, style: float, groups: int = 30, langs=("en", "fr"), seed: int = 0, labels=None) -> list[dict]:
    """Answer rows of ``n_sources`` synthetic sources to ``groups`` × ``langs`` prompts."""
    P = preferences(n_sources, style, seed)
    labels = labels or [f"s{k}" for k in range(n_sources)]
    out = []
    for g in range(groups):
        for lang in langs:
            prompt = f"{lang} question about topic{g}"
            for k, lab in enumerate(labels):
                out.append({"source": lab, "prompt_id": f"g{g}-{lang}", "group": f"g{g}", "lang": lang,
                            "prompt": prompt, "answer": answer(P[k], prompt, lab)})
    return out


class StyleTeacher:
    """A chat model that answers with :func:`answer`; counts its calls."""

    def __init__(self, name: str, pref: np.ndarray):
        self.name, self.pref, self.calls = name, pref, 0

    async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
        self.calls += 1
        text = answer(self.pref, messages[-1]["content"], f"{self.name}|{seed}")
        return Completion(text=text, prompt_tokens=5, completion_tokens=25, model=self.name)


def hashed_embed(texts: list[str], dim: int = 64) -> np.ndarray:
    """A stand-in for MiniLM: hashed bag of words, L2-normalised."""
    out = np.zeros((len(texts), dim))
    for i, t in enumerate(texts):
        for w in t.split():
            out[i, int(hashlib.md5(w.encode()).hexdigest()[:8], 16) % dim] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
