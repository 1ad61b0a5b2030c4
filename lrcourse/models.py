"""Small model factories with explicit seeding: the same seed gives the same initial weights.

Each factory seeds ``torch.manual_seed(course_seed(seed))`` inside ``torch.random.fork_rng()``, so building
a model never changes the global random state a notebook relies on.

>>> m = mlp(64, hidden=(128, 128), out_features=10)
>>> sum(p.numel() for p in m.parameters())
26122
>>> torch.equal(m[1].weight, mlp(64)[1].weight)
True
"""
from __future__ import annotations

import torch
from torch import nn

from lrcourse._checks import choice, integer
from lrcourse.seeding import course_seed

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid, "silu": nn.SiLU}


def _activation(name):
    return ACTIVATIONS[choice("activation", name, sorted(ACTIVATIONS))]


def _widths(name, widths, allow_empty=True):
    """A sequence of layer widths, each an integer >= 1 (``hidden=(128, 128)``)."""
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise TypeError(f"{name} must be a sequence of layer widths such as (128, 128), got {type(widths).__name__} "
                        f"{widths!r}")
    widths = tuple(integer(f"{name}[{i}]", w, minimum=1) for i, w in enumerate(widths))
    if not widths and not allow_empty:
        raise ValueError(f"{name} must name at least one layer width, got {widths!r}")
    return widths


def _seeded(seed, build):
    seed = integer("seed", seed, minimum=0)
    with torch.random.fork_rng(devices=[]):  # CPU RNG only; the global state is restored on exit
        torch.manual_seed(course_seed(seed))  # LRCOURSE_SEED_OFFSET shifts every initialisation
        return build()


def mlp(in_features: int, hidden=(128, 128), out_features: int = 10, activation: str = "relu",
        seed: int = 0) -> nn.Sequential:
    """A multilayer perceptron: Linear -> activation for each width in ``hidden``, then Linear.

    Inputs of shape ``(n, *shape)`` are flattened first, so it also takes images.
    PyTorch's default initialisation (Kaiming-uniform), made reproducible by ``seed``.

    >>> mlp(2, hidden=(3,), out_features=2)
    Sequential(
      (0): Flatten(start_dim=1, end_dim=-1)
      (1): Linear(in_features=2, out_features=3, bias=True)
      (2): ReLU()
      (3): Linear(in_features=3, out_features=2, bias=True)
    )
    """
    in_features = integer("in_features", in_features, minimum=1)
    out_features = integer("out_features", out_features, minimum=1)
    hidden = _widths("hidden", hidden)
    act = _activation(activation)

    def build():
        layers, width = [nn.Flatten()], in_features
        for h in hidden:
            layers += [nn.Linear(width, h), act()]
            width = h
        layers.append(nn.Linear(width, out_features))
        return nn.Sequential(*layers)

    return _seeded(seed, build)


def cnn1d(in_length: int = 40, channels=(32, 32), out_features: int = 10, kernel_size: int = 5,
          activation: str = "relu", seed: int = 0) -> nn.Sequential:
    """A small 1-D convolutional network for MNIST-1D: inputs ``(n, in_length)`` or ``(n, 1, in_length)``.

    Each width in ``channels`` adds Conv1d(kernel_size, stride 2, 'same'-ish padding) ->
    activation; then global average pooling and a Linear classifier.

    >>> m = cnn1d()
    >>> m(torch.zeros(3, 40)).shape
    torch.Size([3, 10])
    """
    in_length = integer("in_length", in_length, minimum=1)
    out_features = integer("out_features", out_features, minimum=1)
    kernel_size = integer("kernel_size", kernel_size, minimum=1)
    channels = _widths("channels", channels, allow_empty=False)
    act = _activation(activation)

    def build():
        layers, width = [nn.Unflatten(1, (1, in_length))], 1
        for c in channels:
            layers += [nn.Conv1d(width, c, kernel_size, stride=2, padding=kernel_size // 2), act()]
            width = c
        layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, out_features)]
        return _AcceptChannelDim(*layers)

    return _seeded(seed, build)


class _AcceptChannelDim(nn.Sequential):
    """A Sequential that also accepts ``(n, 1, L)`` inputs by dropping the channel axis first."""

    def forward(self, x):
        if x.dim() == 3 and x.shape[1] == 1:
            x = x.squeeze(1)
        return super().forward(x)
