import pytest

from distill.lm.compat import IncompatibleTokenizers, shared_vocab_size, tokenizer_fingerprint
from tests.lm.tiny import TEXT, make_tokenizer

pytest.importorskip("transformers")


def test_same_tokenizer_with_padded_rows_uses_the_tokenizer_vocab():
    tok = make_tokenizer(TEXT)
    n = len(tok)
    # the Qwen case: 152,064 embedding rows for 151,936 tokens, here 64 padding rows on one side
    assert shared_vocab_size(tok, make_tokenizer(TEXT), n + 64, n) == n
    assert tokenizer_fingerprint(tok) == tokenizer_fingerprint(make_tokenizer(TEXT))


def test_different_tokenizers_are_refused_naming_both():
    a = make_tokenizer(TEXT, vocab_size=300)
    b = make_tokenizer([t.upper() for t in TEXT], vocab_size=280)
    with pytest.raises(IncompatibleTokenizers, match=rf"teacher tokenizer \({len(a)} tokens.*student tokenizer \({len(b)} tokens.*black-box"):
        shared_vocab_size(a, b, len(a), len(b))


def test_too_few_output_rows():
    tok = make_tokenizer(TEXT)
    with pytest.raises(ValueError, match="student model has"):
        shared_vocab_size(tok, tok, len(tok), len(tok) - 1)
