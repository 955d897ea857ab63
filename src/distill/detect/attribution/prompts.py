"""The shipped attribution prompt set: templates × topics × languages, written out by :func:`build_prompts`.

Prompts are everyday requests (explain, compare, advise, summarise) about harmless topics, in English, French,
German and Spanish. ``data/prompts.jsonl`` is the output of :func:`build_prompts`; a test checks that the two
agree, and ``python -m distill.detect.attribution.prompts`` rewrites the file after an edit here.

A prompt's ``group`` is its template and topic without the language: a split by group keeps a prompt and its
translations on the same side, so a classifier is never tested on a translation of a training prompt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

LANGUAGES = ("en", "fr", "de", "es")

# template id → one phrasing per language; {t} is the topic
TEMPLATES: dict[str, dict[str, str]] = {
    "explain": {"en": "Explain {t} to a beginner.", "fr": "Explique {t} à un débutant.",
                "de": "Erkläre einem Anfänger {t}.", "es": "Explícale {t} a un principiante."},
    "proscons": {"en": "What are the main advantages and disadvantages of {t}?",
                 "fr": "Quels sont les principaux avantages et inconvénients de {t} ?",
                 "de": "Was sind die wichtigsten Vor- und Nachteile von {t}?",
                 "es": "¿Cuáles son las principales ventajas y desventajas de {t}?"},
    "paragraph": {"en": "Write a short paragraph about {t}.", "fr": "Écris un court paragraphe sur {t}.",
                  "de": "Schreib einen kurzen Absatz über {t}.", "es": "Escribe un párrafo corto sobre {t}."},
    "tips": {"en": "Give me three practical tips related to {t}.",
             "fr": "Donne-moi trois conseils pratiques liés à {t}.",
             "de": "Gib mir drei praktische Tipps zu {t}.",
             "es": "Dame tres consejos prácticos relacionados con {t}."},
    "child": {"en": "How would you describe {t} to a ten-year-old?",
              "fr": "Comment décrirais-tu {t} à un enfant de dix ans ?",
              "de": "Wie würdest du einem zehnjährigen Kind {t} beschreiben?",
              "es": "¿Cómo le describirías {t} a un niño de diez años?"},
    "myth": {"en": "What is a common misconception about {t}?",
             "fr": "Quelle est une idée reçue fréquente sur {t} ?",
             "de": "Was ist ein verbreiteter Irrtum über {t}?",
             "es": "¿Cuál es un error común sobre {t}?"},
}

# topic id → its name in each language, as it reads inside the templates above
TOPICS: dict[str, dict[str, str]] = {
    "photosynthesis": {"en": "photosynthesis", "fr": "la photosynthèse", "de": "die Photosynthese",
                       "es": "la fotosíntesis"},
    "interest": {"en": "compound interest", "fr": "les intérêts composés", "de": "den Zinseszins",
                 "es": "el interés compuesto"},
    "water": {"en": "the water cycle", "fr": "le cycle de l'eau", "de": "den Wasserkreislauf",
              "es": "el ciclo del agua"},
    "recycling": {"en": "recycling", "fr": "le recyclage", "de": "das Recycling", "es": "el reciclaje"},
    "language": {"en": "learning a second language", "fr": "l'apprentissage d'une deuxième langue",
                 "de": "das Lernen einer Zweitsprache", "es": "aprender un segundo idioma"},
    "remote": {"en": "remote work", "fr": "le télétravail", "de": "die Arbeit im Homeoffice",
               "es": "el teletrabajo"},
    "printing": {"en": "the printing press", "fr": "l'imprimerie", "de": "den Buchdruck", "es": "la imprenta"},
    "blackholes": {"en": "black holes", "fr": "les trous noirs", "de": "schwarze Löcher",
                   "es": "los agujeros negros"},
    "sleep": {"en": "healthy sleep", "fr": "un sommeil sain", "de": "gesunden Schlaf", "es": "el sueño saludable"},
    "transit": {"en": "public transport", "fr": "les transports en commun", "de": "den öffentlichen Nahverkehr",
                "es": "el transporte público"},
    "evs": {"en": "electric cars", "fr": "les voitures électriques", "de": "Elektroautos",
            "es": "los coches eléctricos"},
    "volcanoes": {"en": "volcanoes", "fr": "les volcans", "de": "Vulkane", "es": "los volcanes"},
    "jazz": {"en": "jazz music", "fr": "le jazz", "de": "Jazzmusik", "es": "la música jazz"},
    "chess": {"en": "chess", "fr": "les échecs", "de": "Schach", "es": "el ajedrez"},
    "bread": {"en": "baking bread", "fr": "la fabrication du pain", "de": "das Brotbacken",
              "es": "hacer pan"},
    "rome": {"en": "the Roman Empire", "fr": "l'Empire romain", "de": "das Römische Reich",
             "es": "el Imperio romano"},
    "translation": {"en": "machine translation", "fr": "la traduction automatique",
                    "de": "die maschinelle Übersetzung", "es": "la traducción automática"},
    "bees": {"en": "honeybees", "fr": "les abeilles", "de": "Honigbienen", "es": "las abejas"},
    "budget": {"en": "a household budget", "fr": "un budget familial", "de": "ein Haushaltsbudget",
               "es": "un presupuesto familiar"},
    "gardening": {"en": "vegetable gardening", "fr": "le potager", "de": "den Gemüseanbau",
                  "es": "el huerto casero"},
}


@dataclass(frozen=True)
class Prompt:
    """One prompt: ``id`` is unique, ``group`` is shared by its translations (the unit of the split)."""

    id: str
    group: str
    lang: str
    text: str


def build_prompts() -> list[Prompt]:
    """Every template × topic × language, in a fixed order (template, topic, language).

    Returns:
        The prompts (6 templates × 20 topics × 4 languages = 480).
    """
    out = []
    for tid in sorted(TEMPLATES):
        for topic in sorted(TOPICS):
            for lang in LANGUAGES:
                text = TEMPLATES[tid][lang].format(t=TOPICS[topic][lang])
                out.append(Prompt(f"{tid}-{topic}-{lang}", f"{tid}-{topic}", lang, text))
    return out


def load_prompts(path: str | Path | None = None, languages: tuple[str, ...] = (), limit: int = 0) -> list[Prompt]:
    """The shipped prompt set or a user's JSONL file.

    A user's file holds one JSON object per line with a ``text`` (or ``prompt``) and optionally ``id``,
    ``group`` and ``lang``; a missing id is ``p<line number>``, a missing group is the id, a missing
    language is ``"?"``.

    Args:
        path: a JSONL file (None or "": the shipped set).
        languages: keep only these languages (empty: all).
        limit: keep at most this many groups, a fixed pseudo-random choice (0: all); every language of a kept group stays.

    Returns:
        The prompts.

    Raises:
        ValueError: a line without text, or two prompts with one id.
    """
    if path:
        lines = Path(path).read_text("utf-8").split("\n")
    else:
        lines = resources.files("distill.detect.attribution").joinpath("data/prompts.jsonl").read_text("utf-8").splitlines()
    prompts = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row = json.loads(line)
        text = row.get("text") or row.get("prompt")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path or 'prompts.jsonl'} line {i}: no 'text'.")
        pid = str(row.get("id") or f"p{i}")
        prompts.append(Prompt(pid, str(row.get("group") or pid), str(row.get("lang") or "?"), text.strip()))
    ids = [p.id for p in prompts]
    if len(set(ids)) < len(ids):
        raise ValueError(f"{path or 'prompts.jsonl'}: prompt ids repeat ({sorted({i for i in ids if ids.count(i) > 1})[:5]}).")
    if languages:
        prompts = [p for p in prompts if p.lang in languages]
    if limit:
        groups = sorted({p.group for p in prompts})
        if limit < len(groups):
            # a fixed pseudo-random choice (sha256 order): varied templates and topics, the same on every run
            keep = set(sorted(groups, key=lambda g: hashlib.sha256(g.encode()).hexdigest())[:limit])
            prompts = [p for p in prompts if p.group in keep]
    return prompts


def write_shipped(path: Path | None = None) -> Path:
    """Write :func:`build_prompts` to the packaged ``data/prompts.jsonl`` (or ``path``).

    Args:
        path: where to write (None: the package's data file).

    Returns:
        The path written.
    """
    path = path or Path(__file__).parent / "data" / "prompts.jsonl"
    path.write_text("".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in build_prompts()), "utf-8")
    return path


if __name__ == "__main__":
    print(write_shipped())
