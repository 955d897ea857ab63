from distill.docs.text import content_words, jaccard, sentence_spans, shingles, token_f1, words


def test_words_keep_identifiers_and_drop_punctuation():
    assert words("Call os.path.join() now!") == ["call", "os.path.join()", "now"]
    assert content_words("The key is in the header") == ["key", "header"]


def test_token_f1_reference_values():
    # "the cat sat" vs "the cat": common 2, precision 2/3, recall 1 → F1 = 0.8 exactly
    assert abs(token_f1("the cat sat", "the cat") - 0.8) < 1e-12
    assert token_f1("a b", "a b") == 1.0 and token_f1("x", "y") == 0.0 and token_f1("", "") == 1.0


def test_sentence_spans_cover_sentences():
    text = "One. Two is here!\n\nThree"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["One.", "Two is here!", "Three"]


def test_jaccard_of_shingles():
    assert jaccard(shingles("a b c d"), shingles("a b c d")) == 1.0
    assert jaccard(shingles("a b c d"), shingles("w x y z")) == 0.0


def test_words_keep_underscored_names_whole():
    assert words("__debug__ is key_expired, don't") == ["__debug__", "is", "key_expired", "don't"]
