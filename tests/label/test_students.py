import pytest

from distill.label.data import headlines
from distill.label.spans import span_f1
from distill.label.students import (
    TfidfClassifier,
    TinyTransformer,
    TokenTagger,
    piece_shapes,
    train_wordpiece,
)

GOOD = ["lovely tasty treat", "tasty and lovely", "a lovely snack", "so tasty", "tasty tasty", "lovely stuff"]
BAD = ["awful stale mess", "stale and awful", "an awful snack", "so stale", "stale stale", "awful stuff"]


def test_the_sklearn_classifier_learns_a_separable_toy_set():
    m = TfidfClassifier().fit(GOOD + BAD, ["pos"] * 6 + ["neg"] * 6)
    assert m.predict(["lovely and tasty", "stale awful"]) == ["pos", "neg"]
    # soft labels: the same texts, labels given as probabilities
    probs = [{"pos": 0.9, "neg": 0.1}] * 6 + [{"pos": 0.2, "neg": 0.8}] * 6
    soft = TfidfClassifier().fit(GOOD + BAD, ["pos"] * 6 + ["neg"] * 6, probs=probs)
    assert soft.predict(["lovely and tasty", "stale awful"]) == ["pos", "neg"]


def test_the_token_tagger_finds_entities_in_unseen_headlines():
    train, test = headlines(120, 0, use_faker=False), headlines(60, 1, use_faker=False)
    m = TokenTagger().fit([i.text for i in train], [i.entities for i in train])
    assert span_f1([i.entities for i in test], m.predict([i.text for i in test]))["f1"] > 0.8


def test_piece_shapes_follow_the_word_not_the_piece():
    tok = train_wordpiece(["Acme pays $5 to bob"], vocab_size=60)
    text = "Acme pays $5 to bob"
    e = tok.encode(text)
    shapes = piece_shapes(text, e)
    assert shapes[0] == 3 and shapes[-1] == 3  # [CLS], [SEP]
    by_word = {}
    for w, s in zip(e.word_ids, shapes, strict=True):
        if w is not None:
            by_word.setdefault(w, set()).add(s)
    assert [by_word[w] for w in sorted(by_word)] == [{1}, {0}, {2}, {2}, {0}, {0}]  # Acme pays $ 5 to bob


@pytest.mark.parametrize("task", ["classify", "ner"])
def test_the_tiny_transformer_fits_a_toy_set(task):
    if task == "classify":
        texts, y, labels = GOOD + BAD, ["pos"] * 6 + ["neg"] * 6, ("pos", "neg")
    else:
        items = headlines(24, 0, use_faker=False)
        texts, y, labels = [i.text for i in items], [i.entities for i in items], ("ORG", "PER", "LOC", "MONEY")
    m = TinyTransformer(task, labels, hidden=32, epochs=40, batch_size=8, lr=3e-3, vocab_size=300, seed=0).fit(texts, y)
    pred = m.predict(texts)
    if task == "classify":
        assert sum(p == g for p, g in zip(pred, y, strict=True)) >= 11
    else:
        assert span_f1(y, pred)["f1"] > 0.7
    assert m.predict(texts) == pred and m.parameters() > 0
