"""The probe set (package data ``data/probes.yaml`` or a user's file) and the requests built from it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import yaml

CONDITIONS = ("no_system", "anchor")


@dataclass(frozen=True)
class Probe:
    """One request: a question in one language, under one condition, one sample (its own seed)."""

    lang: str
    question: str  # question id: name | maker | model | origin
    condition: str  # "no_system": no system prompt; "anchor": the fictional-identity system prompt
    sample: int
    seed: int
    text: str  # the question itself
    system: str | None
    question_label: str
    answer_label: str

    @property
    def key(self) -> str:
        return f"{self.lang}/{self.question}/{self.condition}/{self.sample}"

    def messages(self) -> list[dict[str, str]]:
        """Chat messages for instruction-tuned models."""
        sys = [{"role": "system", "content": self.system}] if self.system else []
        return sys + [{"role": "user", "content": self.text}]

    def plain(self) -> str:
        """A text prompt for base models, which have no chat template: "Question: … Answer:"."""
        head = f"{self.system}\n\n" if self.system else ""
        return f"{head}{self.question_label} {self.text}\n{self.answer_label}"

    def cut(self, answer: str) -> str:
        """A base model goes on writing the next "Question: …"; keep only the answer to ours.

        Args:
            answer: the raw continuation of :meth:`plain`'s prompt.

        Returns:
            ``answer`` cut before the first question or answer label (this language's or English's) or
            triple line break that is not at its very start, stripped of surrounding whitespace.
        """
        for stop in (self.question_label, self.answer_label, "Question:", "\n\n\n"):
            i = answer.find(stop)
            if i > 0:
                answer = answer[:i]
        return answer.strip()


def load_probe_set(path: str | Path | None = None) -> dict:
    """The packaged probe set, or a user's YAML file with the same layout.

    Args:
        path: a YAML file whose ``languages`` maps a language code to ``{name, anchor, question_label,
            answer_label, questions}`` (``questions``: question id → text); None or "": the packaged ``probes.yaml``.

    Returns:
        The parsed YAML mapping, checked to have languages, each with an anchor and questions.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``languages`` is missing or empty, or a language lacks ``anchor`` or ``questions``.
    """
    if path:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"probe file {path} does not exist.")
        data = yaml.safe_load(path.read_text("utf-8"))
    else:
        data = yaml.safe_load(files("distill.detect.identity").joinpath("data/probes.yaml").read_text("utf-8"))
    langs = (data or {}).get("languages")
    if not isinstance(langs, dict) or not langs:
        raise ValueError(f"probe file {path or 'probes.yaml'} needs 'languages': a mapping of language code → "
                         "{name, anchor, question_label, answer_label, questions}.")
    for code, lang in langs.items():
        for key in ("anchor", "questions"):
            if not lang.get(key):
                raise ValueError(f"probe file {path or 'probes.yaml'}: language {code!r} has no {key!r}.")
    return data


def build_probes(data: dict, *, languages: tuple[str, ...] = (), questions: int = 0, samples: int = 3,
                 conditions: tuple[str, ...] = CONDITIONS, seed: int = 0) -> list[Probe]:
    """Every (language, question, condition, sample) of the probe set, in a fixed order.

    ``questions`` > 0 keeps the first that many questions of each language; sample ``s`` of every
    question uses seed ``seed * 1000 + s``, so reruns ask exactly the same thing.

    Args:
        data: a probe set from :func:`load_probe_set`.
        languages: language codes to ask in, in this order; (): every language of the set, in its order.
        questions: the first that many questions per language; 0: all.
        samples: samples per question and condition, numbered 0 … samples − 1.
        conditions: a subset of ``CONDITIONS``: "no_system" (no system prompt) and/or "anchor" (the
            language's fictional-identity system prompt).
        seed: the base seed.

    Returns:
        The probes, ordered by language, question, condition, then sample:
        ``len(languages) × questions × len(conditions) × samples`` of them.

    Raises:
        ValueError: a code in ``languages`` is not in the probe set.
    """
    langs = data["languages"]
    unknown = [code for code in languages if code not in langs]
    if unknown:
        raise ValueError(f"languages {unknown} are not in the probe set; it has {sorted(langs)}.")
    out = []
    for code in languages or tuple(langs):
        lang = langs[code]
        qs = list(lang["questions"].items())
        for qid, text in qs[: questions or None]:
            for cond in conditions:
                for s in range(samples):
                    out.append(Probe(code, qid, cond, s, seed * 1000 + s, text,
                                     lang["anchor"] if cond == "anchor" else None,
                                     lang.get("question_label", "Question:"), lang.get("answer_label", "Answer:")))
    return out
