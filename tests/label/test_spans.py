import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distill.label.spans import (
    bio_tags,
    classification_scores,
    locate,
    span_f1,
    tags_to_spans,
    tokens,
)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab .A$1é", min_size=0, max_size=40),
       mentions=st.lists(st.text(alphabet="ab .A$1é", min_size=0, max_size=6), max_size=6))
def test_located_spans_are_always_the_text_at_their_offsets_and_never_overlap(text, mentions):
    spans, missed = locate(text, [{"text": m, "type": "T"} for m in mentions])
    for sp in spans:
        assert 0 <= sp["start"] < sp["end"] <= len(text)
        assert text[sp["start"] : sp["end"]] == sp["text"]
    for a, b in zip(spans, spans[1:], strict=False):
        assert a["end"] <= b["start"]
    assert len(spans) + len(missed) == len(mentions)


def test_whole_words_first_then_the_next_free_occurrence():
    text = "BigApple buys Apple; Apple rises"
    one, _ = locate(text, [{"text": "Apple", "type": "ORG"}])
    assert [(s["start"], s["end"]) for s in one] == [(14, 19)]  # the whole word, not inside "BigApple"
    spans, missed = locate(text, [{"text": "Apple", "type": "ORG"}] * 3 + [{"text": "Nokia", "type": "ORG"}])
    assert [(s["start"], s["end"]) for s in spans] == [(3, 8), (14, 19), (21, 26)]  # the inner one last
    assert missed == [{"text": "Nokia", "type": "ORG"}]


def test_span_f1_matches_hand_computed_values():
    g = lambda s, e, t: {"start": s, "end": e, "type": t}
    gold = [[g(0, 4, "ORG"), g(10, 15, "PER")], [g(0, 3, "LOC")]]
    pred = [[g(0, 4, "ORG"), g(10, 15, "ORG")], []]  # 1 right, 1 wrong type, 1 missed
    r = span_f1(gold, pred)
    assert (r["tp"], r["pred"], r["gold"]) == (1, 2, 3)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(1 / 3)
    assert r["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))  # 0.4
    assert r["per_type"]["ORG"]["precision"] == pytest.approx(0.5) and r["per_type"]["ORG"]["recall"] == 1.0
    assert r["per_type"]["PER"]["f1"] == 0.0 and r["per_type"]["LOC"]["recall"] == 0.0
    assert span_f1([[]], [[]])["f1"] == 1.0


def test_classification_scores_by_hand():
    r = classification_scores(["a", "a", "b", "b"], ["a", "b", "b", None], ("a", "b"))
    assert r["accuracy"] == 0.5
    # a: P 1/1, R 1/2 → 2/3; b: P 1/2, R 1/2 → 1/2
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2)


def test_bio_tags_round_trip_token_aligned_spans():
    text = "Acme Corp pays $4.2 billion to Ana Silva in New York"
    spans = [{"start": 0, "end": 9, "type": "ORG"}, {"start": 15, "end": 27, "type": "MONEY"},
             {"start": 31, "end": 40, "type": "PER"}, {"start": 44, "end": 52, "type": "LOC"}]
    toks = tokens(text)
    tags = bio_tags(text, spans, toks)
    assert tags[:2] == ["B-ORG", "I-ORG"] and tags[3:6] == ["B-MONEY", "I-MONEY", "I-MONEY"]
    back = tags_to_spans(text, toks, tags)
    assert [(s["start"], s["end"], s["type"]) for s in back] == [(s["start"], s["end"], s["type"]) for s in spans]
    assert tags_to_spans(text, toks, ["I-ORG"] + ["O"] * (len(toks) - 1))[0]["text"] == "Acme"  # I opens a span
