"""A tiny chat model (4-layer Llama, BPE tokenizer with a chat template) saved as an HF folder, once per session."""

import pytest

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory):
    pytest.importorskip("transformers")
    from tokenizers import decoders

    from tests.lm.tiny import TEXT, make_llama, make_tokenizer

    tok = make_tokenizer(TEXT + ["user assistant system", "What is distillation?"])
    tok.backend_tokenizer.decoder = decoders.ByteLevel()  # decode "Ġword" back to " word"
    tok.chat_template = CHAT_TEMPLATE
    return make_llama(tmp_path_factory.mktemp("chat"), tok, layers=2)
