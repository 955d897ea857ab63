"""`distill serve --watermark-key-env`: the served answers carry the watermark; the key is not logged."""

import logging

import httpx
import pytest

pytest.importorskip("fastapi")

from distill.serve.server import ServeConfig, ServerThread, build_app, served_name  # noqa: E402
from distill.watermark.detect import score_ids  # noqa: E402
from distill.watermark.greenlist import GreenList, WatermarkProcessor  # noqa: E402
from distill.watermark.keys import read_key  # noqa: E402


@pytest.mark.slow
def test_served_answers_are_watermarked(wm_word_model, key_env, caplog):
    name, key = key_env
    caplog.set_level(logging.DEBUG)
    cfg = ServeConfig(model=str(wm_word_model), watermark_key_env=name, watermark_delta=4.0, device="cpu")
    app = build_app(cfg)
    assert isinstance(app.state.engine.logits_processor, WatermarkProcessor)
    prompt = "the student matches the teacher"
    with ServerThread(app) as s:
        r = httpx.post(s.url + "/v1/completions", json={"model": served_name(cfg), "prompt": prompt, "max_tokens": 60,
                                                       "temperature": 1.0, "seed": 5}, timeout=60)
    assert r.status_code == 200, r.text
    text = r.json()["choices"][0]["text"]
    tok = app.state.engine.tokenizer
    ids = tok(prompt)["input_ids"][-1:] + tok(text, add_special_tokens=False)["input_ids"]
    g = GreenList(read_key(name), 0.25)
    assert score_ids(ids, g)["p_value"] < 1e-3
    assert key not in caplog.text and name in caplog.text  # "watermark on: …, key from $NAME"


def test_no_key_no_watermark(wm_word_model):
    app = build_app(ServeConfig(model=str(wm_word_model), device="cpu"))
    assert app.state.engine.logits_processor is None
    with pytest.raises(ValueError, match="NOT_SET_WM"):
        build_app(ServeConfig(model=str(wm_word_model), watermark_key_env="NOT_SET_WM", device="cpu"))
