"""Model factories: shapes, the layers asked for, seeding without side effects, validation."""
import numpy as np
import pytest
import torch
from torch import nn

from lrcourse.models import ACTIVATIONS, cnn1d, mlp


def params(m):
    return torch.cat([p.detach().flatten() for p in m.parameters()])


def test_mlp_shapes_and_parameter_count():
    m = mlp(64, hidden=(128, 128), out_features=10)
    assert m(torch.zeros(5, 64)).shape == (5, 10)
    assert sum(p.numel() for p in m.parameters()) == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    assert mlp(64)(torch.zeros(2, 8, 8)).shape == (2, 10)  # images are flattened


def test_same_seed_same_weights_different_seed_different():
    assert torch.equal(params(mlp(8, seed=3)), params(mlp(8, seed=3)))
    assert not torch.equal(params(mlp(8, seed=3)), params(mlp(8, seed=4)))
    assert torch.equal(params(cnn1d(seed=1)), params(cnn1d(seed=1)))


def test_factories_leave_global_rng_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    mlp(64)
    cnn1d()
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_hidden_layer_uses_the_activation_asked_for(name):
    m = mlp(4, hidden=(3, 5), activation=name)
    assert [type(layer) for layer in m] == [nn.Flatten, nn.Linear, ACTIVATIONS[name], nn.Linear, ACTIVATIONS[name],
                                            nn.Linear]
    c = cnn1d(in_length=16, channels=(4, 4), activation=name)
    assert [type(layer) for layer in c if not isinstance(layer, (nn.Conv1d, nn.Unflatten, nn.AdaptiveAvgPool1d,
                                                                    nn.Flatten, nn.Linear))] == [ACTIVATIONS[name]] * 2
    # and the activation really acts: a negative input is mapped as the activation maps it
    x = torch.tensor([[-1.0, 0.5]])
    assert torch.equal(m[2](x), ACTIVATIONS[name]()(x))


def test_cnn1d_accepts_flat_and_channel_inputs():
    m = cnn1d(in_length=40)
    x = torch.randn(4, 40)
    assert torch.equal(m(x), m(x.unsqueeze(1)))


def test_numpy_integers_are_accepted():
    m = mlp(np.int64(4), hidden=(np.int64(3),), out_features=np.int32(2), seed=np.int64(1))
    assert m(torch.zeros(1, 4)).shape == (1, 2) and torch.equal(params(m), params(mlp(4, (3,), 2, seed=1)))


@pytest.mark.parametrize("call, exc, message", [
    (lambda: mlp(0), ValueError, "in_features must be >= 1, got 0"),
    (lambda: mlp(4.5), ValueError, "in_features must be an integer, got 4.5"),
    (lambda: mlp("4"), TypeError, "in_features must be an integer, got str"),
    (lambda: mlp(True), TypeError, "in_features must be an integer, got bool"),
    (lambda: mlp(4, hidden=(3, -1)), ValueError, r"hidden\[1\] must be >= 1, got -1"),
    (lambda: mlp(4, hidden=(1.7,)), ValueError, r"hidden\[0\] must be an integer, got 1.7"),
    (lambda: mlp(4, hidden=32), TypeError, "hidden must be a sequence of layer widths"),
    (lambda: mlp(4, hidden="32"), TypeError, "hidden must be a sequence of layer widths"),
    (lambda: mlp(4, out_features=0), ValueError, "out_features must be >= 1, got 0"),
    (lambda: mlp(4, activation="swish2"), ValueError, "activation must be one of .*'swish2'"),
    (lambda: mlp(4, activation=None), TypeError, "activation must be a str"),
    (lambda: mlp(4, seed=-1), ValueError, "seed must be >= 0, got -1"),
    (lambda: cnn1d(channels=()), ValueError, "channels must name at least one layer width"),
    (lambda: cnn1d(kernel_size=0), ValueError, "kernel_size must be >= 1, got 0"),
    (lambda: cnn1d(in_length=None), TypeError, "in_length must be an integer"),
])
def test_bad_input_names_the_parameter_and_the_value(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
