import pytest

from distill.detect.identity.probes import build_probes, load_probe_set


def test_packaged_probe_set_covers_six_languages_and_anchors():
    data = load_probe_set()
    langs = data["languages"]
    assert {"en", "zh", "fr", "de", "es", "ru"} <= set(langs)
    for code, lang in langs.items():
        assert len(lang["questions"]) >= 3, code
        assert "Aria" in lang["anchor"] and "Northwind Labs" in lang["anchor"], code
    # written per language, not copies of the English text
    texts = [lang["questions"]["name"] for lang in langs.values()]
    assert len(set(texts)) == len(texts)


def test_build_probes_counts_seeds_and_conditions():
    probes = build_probes(load_probe_set(), languages=("en", "ru"), questions=2, samples=3, seed=1)
    assert len(probes) == 2 * 2 * 2 * 3
    assert len({p.key for p in probes}) == len(probes)
    assert sorted({p.seed for p in probes}) == [1000, 1001, 1002]
    none = [p for p in probes if p.condition == "no_system"]
    anchor = [p for p in probes if p.condition == "anchor"]
    assert all(p.system is None and len(p.messages()) == 1 for p in none)
    assert all(p.messages()[0] == {"role": "system", "content": p.system} for p in anchor)
    with pytest.raises(ValueError, match=r"languages \['xx'\] are not in the probe set"):
        build_probes(load_probe_set(), languages=("xx",))


def test_plain_prompt_for_base_models_and_cutting_the_answer():
    p = next(p for p in build_probes(load_probe_set(), languages=("de",), questions=1, samples=1)
             if p.condition == "anchor")
    assert p.plain() == "Du bist Aria, eine Assistentin von Northwind Labs.\n\nFrage: Wie heißt du?\nAntwort:"
    assert p.cut(" Ich heiße Aria.\nFrage: Und wer bist du?\nAntwort: ...") == "Ich heiße Aria."


def test_user_probe_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="probe file"):
        load_probe_set(tmp_path / "none.yaml")
    (tmp_path / "p.yaml").write_text("languages:\n  en: {anchor: You are Aria.}\n")
    with pytest.raises(ValueError, match="language 'en' has no 'questions'"):
        load_probe_set(tmp_path / "p.yaml")
