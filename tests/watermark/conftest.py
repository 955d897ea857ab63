"""Tiny models for the watermark tests: a BPE tokenizer on local text and a random 2-layer Llama whose
next-token distribution is broad (default init, not sharpened), so a δ = 2–4 watermark shows in 60 tokens."""

import pytest


def make_random_llama(path, tokenizer, seed=0, layers=2):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():  # moderately peaked: entropy of a few nats, like a small trained LM
        model.lm_head.weight.mul_(4.0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def wm_model(tmp_path_factory):
    """An HF folder: random 2-layer Llama (hidden 64) and a 300-token BPE tokenizer."""
    pytest.importorskip("transformers")
    from tests.lm.tiny import TEXT, make_tokenizer

    return make_random_llama(tmp_path_factory.mktemp("wm_model"), make_tokenizer(TEXT))


@pytest.fixture
def key_env(monkeypatch):
    """An environment variable holding a watermark key; yields (name, key)."""
    name, key = "DISTILL_TEST_WM_KEY", "s3cret-Wm-Key-7f1c9a"
    monkeypatch.setenv(name, key)
    return name, key


def make_word_tokenizer(texts):
    """A word-level tokenizer: decoding joins words with spaces and re-tokenizing gives the same ids back,
    so a test of text files sees exactly the generated tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["<unk>", "<s>", "</s>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


@pytest.fixture(scope="session")
def wm_word_model(tmp_path_factory):
    """An HF folder: random 2-layer Llama with a word-level tokenizer (exact text round trip)."""
    pytest.importorskip("transformers")
    from tests.lm.tiny import TEXT

    words = [" ".join(f"w{i}" for i in range(j, 400, 7)) for j in range(7)]  # 400 more words
    return make_random_llama(tmp_path_factory.mktemp("wm_word"), make_word_tokenizer(TEXT + words))
