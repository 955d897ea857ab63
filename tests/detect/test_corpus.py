"""The prompt classifier's labelled corpora: well-formed, large, multilingual, and the held-out set apart.

All three files are ``label<TAB>category<TAB>lang<TAB>prompt`` with ``#`` comment lines at the top; the
held-out set (tests/detect/heldout_prompts.tsv) must not contain near-copies of training prompts.
"""

from collections import Counter, defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "src" / "distill" / "detect" / "data" / "prompts_train.tsv"
MORE = TRAIN.with_name("prompts_train_more.tsv")  # the second training file, written apart
HELD_OUT = Path(__file__).with_name("heldout_prompts.tsv")

CATEGORIES = {
    1: {"cot_elicit", "reasoning", "sweep", "agentic", "coding", "probe"},
    0: {"chat", "writing", "coding_help", "homework", "business", "translation", "tool_use_app", "creative",
        "support"},
}
LANGS = set("en es fr de pt it zh ja ko ru ar hi tr nl pl vi id".split())
MIN_ROWS = {TRAIN: 1500, MORE: 2000, HELD_OUT: 600}
MIN_LANGS_PER_CATEGORY = 8
NGRAM = 5
MAX_JACCARD = 0.5


def _rows(path: Path) -> list[tuple[int, str, str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines and lines[0].startswith("#"), f"{path.name}: header comment expected"
    rows = []
    for n, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        assert len(parts) == 4, f"{path.name}:{n}: {len(parts)} columns"
        label, category, lang, prompt = parts
        assert label in ("0", "1"), f"{path.name}:{n}: label {label!r}"
        assert category in CATEGORIES[int(label)], f"{path.name}:{n}: category {category!r} for label {label}"
        assert lang in LANGS, f"{path.name}:{n}: lang {lang!r}"
        assert prompt.strip() == prompt and prompt, f"{path.name}:{n}: empty or padded prompt"
        rows.append((int(label), category, lang, prompt))
    return rows


@pytest.fixture(scope="module", params=[TRAIN, MORE, HELD_OUT], ids=["train", "train_more", "held_out"])
def corpus(request):
    return request.param, _rows(request.param)


def test_parses_and_is_large_and_balanced(corpus):
    path, rows = corpus
    assert len(rows) >= MIN_ROWS[path]
    ones = sum(r[0] for r in rows)
    assert 0.4 <= ones / len(rows) <= 0.6, f"label balance {ones}/{len(rows)}"
    prompts = [r[3] for r in rows]
    assert len(set(prompts)) == len(prompts), "duplicate prompts"


def test_every_category_in_many_languages(corpus):
    _, rows = corpus
    langs = defaultdict(set)
    for _, category, lang, _ in rows:
        langs[category].add(lang)
    for category in CATEGORIES[0] | CATEGORIES[1]:
        assert len(langs[category]) >= MIN_LANGS_PER_CATEGORY, (category, sorted(langs[category]))
    per_lang = Counter(r[2] for r in rows)
    assert set(per_lang) == LANGS
    assert 0.25 <= per_lang["en"] / len(rows) <= 0.5


def test_scripts_are_real(corpus):
    """Rows tagged with a non-Latin-script language are written in that script (Hindi: ≥ 85%; the rest is
    romanized Hindi, as many users write it)."""
    _, rows = corpus
    ranges = {"zh": ("\u4e00", "\u9fff"), "ja": ("\u3040", "\u30ff"), "ko": ("\uac00", "\ud7af"),
              "ru": ("\u0400", "\u04ff"), "ar": ("\u0600", "\u06ff"), "hi": ("\u0900", "\u097f")}
    latin = Counter()
    for _, _, lang, prompt in rows:
        if lang in ranges:
            lo, hi = ranges[lang]
            if not any(lo <= ch <= hi for ch in prompt):
                assert lang == "hi", (lang, prompt)
                latin[lang] += 1
    n_hi = sum(r[2] == "hi" for r in rows)
    assert latin["hi"] <= 0.15 * n_hi, latin


def _grams(text: str) -> set[str]:
    t = " ".join(text.lower().split())
    return {t[i:i + NGRAM] for i in range(max(1, len(t) - NGRAM + 1))}


def test_held_out_is_not_a_near_copy_of_training():
    """Character 5-gram Jaccard < 0.5 between every held-out prompt and every training prompt.

    Exact over all pairs: an inverted index from 5-gram to training rows gives each pair's intersection
    size for the pairs that share any 5-gram (all other pairs have Jaccard 0).
    """
    train = [_grams(r[3]) for r in _rows(TRAIN) + _rows(MORE)]
    index = defaultdict(list)
    for i, grams in enumerate(train):
        for g in grams:
            index[g].append(i)
    worst = []
    for _, _, _, prompt in _rows(HELD_OUT):
        grams = _grams(prompt)
        shared = Counter()
        for g in grams:
            shared.update(index.get(g, ()))
        for i, k in shared.items():
            jaccard = k / (len(grams) + len(train[i]) - k)
            if jaccard >= MAX_JACCARD:
                worst.append((round(jaccard, 2), prompt))
    assert not worst, worst[:10]
    held = {r[3] for r in _rows(HELD_OUT)}
    assert not held & {r[3] for r in _rows(TRAIN) + _rows(MORE)}


def test_the_classifier_reads_every_training_file():
    from distill.detect import prompts as P

    x, y = P.training_set()
    assert len(x) == len(y) == len(_rows(TRAIN)) + len(_rows(MORE))
