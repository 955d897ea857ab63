"""Antidistillation sampling: the finite-difference Δ equals the autograd inner product it estimates;
λ = 0 is plain sampling; the serve flags build the processor."""

import pytest
import torch

from distill.watermark.antidistill import AntidistillProcessor, downstream_direction


def test_delta_matches_autograd_inner_product(wm_model):
    from transformers import AutoModelForCausalLM

    proxy = AutoModelForCausalLM.from_pretrained(wm_model).eval()
    data = [[1, 20, 30, 40, 50, 60], [1, 7, 8, 9]]
    g = downstream_direction(proxy, data)
    assert torch.sqrt(sum((x ** 2).sum() for x in g)) == pytest.approx(1.0, rel=1e-5)
    proc = AntidistillProcessor(proxy, g, lam=1.0, eps=1e-2)
    ids = torch.tensor([[1, 11, 12, 13]])
    d = proc.delta(ids)[0]
    # reference: ⟨g, ∇θ log p(x | ids)⟩ by autograd for a few tokens x
    for x in (3, 50, 120):
        proxy.zero_grad()
        proxy(input_ids=ids).logits[0, -1].log_softmax(-1)[x].backward()
        ref = sum((p.grad * gi).sum() for p, gi in zip(proxy.parameters(), g, strict=True))
        assert float(d[x]) == pytest.approx(float(ref), rel=2e-2, abs=2e-3)


def test_lambda_zero_is_the_teachers_log_probs(wm_model):
    from transformers import AutoModelForCausalLM

    proxy = AutoModelForCausalLM.from_pretrained(wm_model).eval()
    proc = AntidistillProcessor(proxy, downstream_direction(proxy, [[1, 2, 3]]), lam=0.0)
    scores = torch.randn(1, proxy.config.vocab_size)
    assert torch.allclose(proc(torch.tensor([[1, 2]]), scores), scores.log_softmax(-1))
    lam = AntidistillProcessor(proxy, downstream_direction(proxy, [[1, 2, 3]]), lam=0.5)
    out = lam(torch.tensor([[1, 2]]), scores)
    assert torch.allclose(out, scores.log_softmax(-1) + 0.5 * lam.delta(torch.tensor([[1, 2]])), atol=1e-5)


@pytest.mark.slow
def test_serve_flags_build_both_processors(wm_model, key_env, tmp_path):
    from distill.serve.server import ServeConfig, build_app

    data = tmp_path / "task.jsonl"
    data.write_text('"the student matches the teacher"\n"soft targets carry dark knowledge"\n')
    app = build_app(ServeConfig(model=str(wm_model), device="cpu", antidistill=0.5, proxy_student=str(wm_model),
                                antidistill_data=str(data), watermark_key_env=key_env[0]))
    kinds = [type(p).__name__ for p in app.state.engine.logits_processor]
    assert kinds == ["AntidistillProcessor", "WatermarkProcessor"]
    with pytest.raises(ValueError, match="proxy_student"):
        ServeConfig(model=str(wm_model), antidistill=0.5)


def test_score_from_skips_the_prompt(wm_model):
    from transformers import AutoModelForCausalLM

    proxy = AutoModelForCausalLM.from_pretrained(wm_model).eval()
    text = [1, 20, 30, 40, 50, 60]
    g = downstream_direction(proxy, [text], score_from=3)
    # reference: the gradient of the loss on tokens 3.. only, normalised
    proxy.zero_grad()
    x = torch.tensor([text])
    y = x.clone()
    y[:, :3] = -100
    proxy(input_ids=x, labels=y).loss.backward()
    ref = [p.grad.clone() for p in proxy.parameters()]
    norm = torch.sqrt(sum((r ** 2).sum() for r in ref))
    assert all(torch.allclose(a, r / norm, atol=1e-6) for a, r in zip(g, ref, strict=True))
    full = downstream_direction(proxy, [text])
    assert not torch.allclose(full[0], g[0], atol=1e-4)
    with pytest.raises(ValueError, match="score_from=6"):
        downstream_direction(proxy, [text], score_from=6)
