"""Image classifiers for classic distillation: Hinton's MLPs, a small CNN, ensembles.

Every model maps images of shape (B, H, W) or (B, 1, H, W), float in [0, 1], to
logits (B, C). Hidden layers are named (``hidden1``, ``hidden2``, ...), so feature
distillation can address them by name.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from distill.registry import Registry, registry


class MLP(nn.Module):
    """Fully connected ReLU net, e.g. Hinton's 784-1200-1200-10 teacher or 784-800-800-10 student.

    Args:
        in_features: input size (784 for 28x28 images, flattened).
        hidden: sizes of the hidden layers.
        num_classes: output size.
        dropout: dropout on hidden activations (Hinton et al. 2012 used 0.5).
        input_dropout: dropout on the input pixels (0.2 in the dropout paper).
        max_norm: if set, ``apply_constraints`` renormalizes each unit's incoming weight
            vector to at most this L2 norm (the dropout paper's max-norm constraint).
    """

    def __init__(
        self,
        in_features: int = 784,
        hidden: tuple[int, ...] = (800, 800),
        num_classes: int = 10,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        max_norm: float | None = None,
    ):
        super().__init__()
        self.input_dropout = nn.Dropout(input_dropout)
        layers, width = [], in_features
        for i, h in enumerate(hidden, start=1):
            block = nn.Sequential(nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout))
            self.add_module(f"hidden{i}", block)
            layers.append(block)
            width = h
        self.blocks = layers  # plain list: the modules are registered by name above
        self.out = nn.Linear(width, num_classes)
        self.max_norm = max_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images.

        Args:
            x: images (B, H, W) or (B, 1, H, W) with H·W = ``in_features``, float in [0, 1].

        Returns:
            Logits (B, C).
        """
        h = self.input_dropout(x.flatten(1))  # (B, 784)
        for block in self.blocks:
            h = block(h)  # (B, hidden_i)
        return self.out(h)  # (B, C)

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Max-norm: clip each unit's incoming weight vector (a row of W) to ``max_norm``."""
        if self.max_norm is None:
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.weight.renorm_(2, 0, self.max_norm)


class SmallCNN(nn.Module):
    """Two conv blocks and a dense layer; a teacher clearly stronger than the MLPs on Fashion-MNIST.

    conv(1→c,3) ReLU conv(c→c,3) ReLU maxpool → conv(c→2c,3) ReLU conv(2c→2c,3) ReLU maxpool
    → dense(7·7·2c → hidden) ReLU dropout → logits.

    Args:
        num_classes: output size C.
        channels: width c of the first conv block (the second has 2c).
        hidden: size of the dense layer.
        dropout: dropout after the dense layer.
    """

    def __init__(self, num_classes: int = 10, channels: int = 32, hidden: int = 256, dropout: float = 0.3):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.MaxPool2d(2),
            )

        self.features1 = block(1, channels)  # (B, c, 14, 14)
        self.features2 = block(channels, 2 * channels)  # (B, 2c, 7, 7)
        self.hidden1 = nn.Sequential(nn.Flatten(), nn.Linear(49 * 2 * channels, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of 28×28 images.

        Args:
            x: images (B, 28, 28) or (B, 1, 28, 28), float in [0, 1] (two 2× poolings must leave 7×7).

        Returns:
            Logits (B, C).
        """
        if x.dim() == 3:
            x = x.unsqueeze(1)  # (B, 1, H, W)
        return self.out(self.hidden1(self.features2(self.features1(x))))

    def apply_constraints(self) -> None:
        pass


class Ensemble(nn.Module):
    """Averages the members' probabilities; returns log-probabilities, which act as logits.

    log(mean_i softmax(z_i)) is a valid logit vector: its softmax is the ensemble's
    predictive distribution, and dividing it by T gives the tempered ensemble targets
    only approximately, so distillation from an ensemble should use the members'
    logits through ``distill.losses.mix_teachers`` (exact at every temperature).

    Args:
        members: models with the same input and number of classes C.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The ensemble's log-probabilities: log of the mean of the members' softmaxes.

        Args:
            x: images, as each member takes them.

        Returns:
            Log-probabilities (B, C), usable as logits.
        """
        logp = torch.stack([m(x).log_softmax(-1) for m in self.members])  # (M, B, C)
        return torch.logsumexp(logp, dim=0) - torch.log(torch.tensor(float(len(self.members))))


def _hinton_teacher(num_classes: int = 10) -> MLP:
    return MLP(784, (1200, 1200), num_classes, dropout=0.5, input_dropout=0.2, max_norm=15.0)


def _hinton_student(num_classes: int = 10) -> MLP:
    return MLP(784, (800, 800), num_classes)


# The one list of classifier architectures (`distill classic train --student`, `distill list architectures`).
ARCHITECTURES: Registry[Callable[..., nn.Module]] = registry(
    "classifier architecture", where=("classic train --student",),
    **{"mlp-1200": (_hinton_teacher, "784-1200-1200-C ReLU MLP with dropout: Hinton et al.'s teacher"),
       "mlp-800": (_hinton_student, "784-800-800-C ReLU MLP, no regularization: Hinton et al.'s student"),
       "cnn": (SmallCNN, "four conv layers, two max-pools and a dense layer with dropout (a stronger teacher)")})


def build_classifier(name: str, num_classes: int = 10, *, seed: int | None = None) -> nn.Module:
    """Build an architecture from the registry by name.

    With ``seed``, the initial weights are a function of the seed alone: drawn from a generator
    seeded with it, leaving the global RNG as it was. Without one they depend on whatever used
    the global RNG before (imports included), so runs meant to be reproducible pass a seed.

    Args:
        name: an ``ARCHITECTURES`` key: "mlp-1200" (Hinton's teacher), "mlp-800" (student) or "cnn".
        num_classes: output size C.
        seed: seed for the initial weights; None uses the global RNG.

    Returns:
        The untrained model.

    Raises:
        ValueError: ``name`` is not a registered architecture.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {name!r}; choose one of {sorted(ARCHITECTURES)}.")
    if seed is None:
        return ARCHITECTURES[name](num_classes=num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ARCHITECTURES[name](num_classes=num_classes)
