"""Model factories: shapes, seeding without side effects, validation."""
import pytest
import torch

from lrcourse.models import cnn1d, mlp


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


@pytest.mark.parametrize("act", ["relu", "tanh", "gelu"])
def test_activations(act):
    assert mlp(4, hidden=(3,), activation=act)(torch.zeros(1, 4)).shape == (1, 10)


def test_cnn1d_accepts_flat_and_channel_inputs():
    m = cnn1d(in_length=40)
    x = torch.randn(4, 40)
    assert torch.equal(m(x), m(x.unsqueeze(1)))


@pytest.mark.parametrize("call, name", [
    (lambda: mlp(0), "in_features"),
    (lambda: mlp(4, hidden=(3, -1)), "hidden"),
    (lambda: mlp(4, activation="swish2"), "activation"),
    (lambda: mlp(4, seed=-1), "seed"),
    (lambda: cnn1d(channels=()), "channels"),
    (lambda: cnn1d(kernel_size=0), "kernel_size"),
])
def test_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()
