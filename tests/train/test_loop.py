"""The one training loop, on a toy recipe: clipping, accumulation, resume, evaluation cadence."""

from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file

from distill.train import loop
from distill.train.loop import LoopSpec

X = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0]) * 100  # large targets: large gradients


class Toy:
    """Least squares on X, Y; a seeded batch of 8 rows per step, split in ``accum`` micro-batches."""

    def __init__(self, model, opt, sched, accum=1):
        self.model, self.opt, self.sched, self.accum = model, opt, sched, accum

    def micro_batches(self, step):
        rows = torch.randperm(64, generator=torch.Generator().manual_seed(step))[:8]
        return list(rows.chunk(self.accum))

    def loss(self, rows, step):
        return ((self.model(X[rows]).squeeze(-1) - Y[rows]) ** 2).mean(), {"rows": float(len(rows))}

    def save(self, folder: Path):
        save_file(self.model.state_dict(), folder / "model.safetensors")
        torch.save({"opt": self.opt.state_dict(), "sched": self.sched.state_dict()}, folder / "opt.pt")

    def load(self, folder: Path):
        self.model.load_state_dict(load_file(folder / "model.safetensors"))
        state = torch.load(folder / "opt.pt", weights_only=True)
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])


def _run(tmp_path=None, *, steps=6, accum=1, clip=0.0, stop=None, eval_every=0, momentum=0.0, seen=None):
    torch.manual_seed(0)
    acc = Accelerator(gradient_accumulation_steps=accum)
    model = torch.nn.Linear(5, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=momentum)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model, opt, sched = acc.prepare(model, opt, sched)
    recipe = Toy(model, opt, sched, accum)
    r = loop.run(recipe, model=model, optimizer=opt, scheduler=sched, accelerator=acc,
                 spec=LoopSpec(steps=steps, desc="toy", max_grad_norm=clip, eval_every=eval_every, summed=("rows",)),
                 ckpt=None if tmp_path is None else tmp_path / "ckpt", settings={"toy": 1},
                 on_step=(lambda s, m, lr: seen.append((s, m))) if seen is not None else None,
                 evaluate=lambda s: {"w0": model.weight[0, 0].detach().item()}, stop_after_steps=stop)
    return model, r


def test_clipping_bounds_each_update_and_reports_the_norm_before_it():
    seen = []
    torch.manual_seed(0)
    start = torch.nn.Linear(5, 1).weight.detach().clone()  # the weights _run starts from
    model, r = _run(steps=1, clip=1.0, seen=seen)
    step_norm = (model.weight.detach() - start).norm().item()  # plain SGD: update = lr · clipped gradient
    assert step_norm <= 1e-3 * 1.0 + 1e-9
    assert seen[0][1]["grad_norm"] > 100  # the unclipped norm, as logged
    unclipped, _ = _run(steps=1)
    assert (unclipped.weight.detach() - start).norm().item() > 50 * step_norm


def test_accumulated_micro_batches_equal_one_batch():
    one, r1 = _run(steps=4, accum=1)
    four, r4 = _run(steps=4, accum=4)
    torch.testing.assert_close(one.weight, four.weight)
    assert r4.last["rows"] == 8.0  # summed over the four micro-batches; the loss is their mean
    # equal micro-batches: the mean of their losses is the batch's loss (the weights before the step agree)
    assert r4.last["loss"] == pytest.approx(r1.last["loss"], rel=1e-5)


def test_an_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path):
    whole, _ = _run(tmp_path / "a", steps=6, momentum=0.9)
    _, part = _run(tmp_path / "b", steps=6, momentum=0.9, stop=4)
    assert part.step == 4 and not part.completed
    resumed, r = _run(tmp_path / "b", steps=6, momentum=0.9)
    assert r.resumed_at == 4 and r.completed
    torch.testing.assert_close(resumed.weight, whole.weight, rtol=0, atol=0)


def test_a_checkpoint_of_other_settings_is_refused(tmp_path):
    _run(tmp_path, steps=2)
    acc = Accelerator()
    model = torch.nn.Linear(5, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    with pytest.raises(ValueError, match=r"other settings \(differ: toy\)"):
        loop.run(Toy(model, opt, sched), model=model, optimizer=opt, scheduler=sched, accelerator=acc,
                 spec=LoopSpec(steps=3), ckpt=tmp_path / "ckpt", settings={"toy": 2})


def test_evaluation_every_n_steps_and_at_the_end():
    _, r = _run(steps=5, eval_every=2)
    assert [e["step"] for e in r.evaluations] == [2, 4, 5]
    assert all("w0" in e for e in r.evaluations)
