"""Tiny causal LMs made in the test: a BPE tokenizer trained on local text and a 4-layer Llama."""

from pathlib import Path

TEXT = [
    "Distillation moves what a large teacher model knows into a small student model.",
    "The student matches the teacher's next-token distribution at every position.",
    "Soft targets at temperature T carry the dark knowledge of the teacher.",
    "A chunk of documentation becomes questions, reasoning and answers.",
] * 20


def make_tokenizer(texts, vocab_size=300):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"])
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def make_llama(path: Path, tokenizer, layers=4, pad_rows=0, seed=0, tie=False):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer) + pad_rows, hidden_size=64, intermediate_size=128,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256, tie_word_embeddings=tie)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():  # a peaked output distribution, as a trained LM has (random init is near uniform)
        model.lm_head.weight.mul_(30.0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
