"""One validation rule: TypeError for a type, ValueError for a value, the parameter named."""
import numpy as np
import pytest
import torch

from lrcourse import _checks as C


@pytest.mark.parametrize("value, expected", [
    (3, 3), (3.0, 3), (1e4, 10000), (np.int64(3), 3), (np.int32(3), 3), (np.float64(3.0), 3),
    (torch.tensor(3), 3), (np.array(3), 3),
])
def test_integer_accepts_numpy_and_torch_scalars(value, expected):
    out = C.integer("epochs", value, minimum=1)
    assert out == expected and type(out) is int


@pytest.mark.parametrize("value, exc, match", [
    (True, TypeError, "epochs must be an integer, got bool True"),
    ("3", TypeError, "epochs must be an integer, got str '3'"),
    (None, TypeError, "epochs must be an integer"),
    (2.5, ValueError, "epochs must be an integer, got 2.5"),
    (float("nan"), ValueError, "epochs must be an integer"),
    (0, ValueError, "epochs must be >= 1, got 0"),
    (11, ValueError, "epochs must be <= 10, got 11"),
    (torch.tensor([1, 2]), TypeError, "epochs must be an integer"),
])
def test_integer_rejects_with_the_parameter_named(value, exc, match):
    with pytest.raises(exc, match=match):
        C.integer("epochs", value, minimum=1, maximum=10)


@pytest.mark.parametrize("value", [0.1, 1, np.float32(0.5), np.float64(2.0), torch.tensor(0.25), np.int64(1)])
def test_positive_accepts_scalars(value):
    assert C.positive("lr", value) == pytest.approx(float(value))
    assert type(C.positive("lr", value)) is float


@pytest.mark.parametrize("func, value, exc, match", [
    (C.positive, 0, ValueError, "lr must be > 0, got 0"),
    (C.positive, -1.0, ValueError, "lr must be > 0"),
    (C.positive, float("inf"), ValueError, "lr must be finite"),
    (C.positive, float("nan"), ValueError, "lr must be finite"),
    (C.positive, 10**400, ValueError, "lr must be finite"),
    (C.positive, True, TypeError, "lr must be a real number, got bool"),
    (C.positive, "0.1", TypeError, "lr must be a real number, got str"),
    (C.positive, 1j, TypeError, "lr must be a real number"),
    (C.non_negative, -0.5, ValueError, "lr must be >= 0"),
    (C.fraction, 1.0, ValueError, "lr must be < 1"),
    (C.fraction, 0.0, ValueError, "lr must be > 0"),
])
def test_reals_reject_with_the_parameter_named(func, value, exc, match):
    with pytest.raises(exc, match=match):
        func("lr", value)


def test_boolean_and_choice():
    assert C.boolean("staircase", np.bool_(True)) is True
    with pytest.raises(TypeError, match="staircase must be True or False, got int 1"):
        C.boolean("staircase", 1)
    assert C.choice("mode", "min", ("min", "max")) == "min"
    with pytest.raises(ValueError, match=r"mode must be one of \('min', 'max'\), got 'low'"):
        C.choice("mode", "low", ("min", "max"))
    with pytest.raises(TypeError, match="mode must be a str"):
        C.choice("mode", 1, ("min", "max"))
