"""get_device picks CUDA -> MPS -> CPU, honours LRCOURSE_DEVICE, rejects nonsense."""
import contextlib

import pytest
import torch

from lrcourse.device import autocast, get_device, to_device


def test_cpu_when_asked(monkeypatch):
    monkeypatch.delenv("LRCOURSE_DEVICE", raising=False)
    assert get_device("cpu") == torch.device("cpu")


def test_env_var_overrides(monkeypatch):
    monkeypatch.setenv("LRCOURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_automatic_choice_matches_availability(monkeypatch):
    monkeypatch.delenv("LRCOURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected


@pytest.mark.parametrize("name", ["gpu0", "tpu", "cuda:x"])
def test_invalid_names_raise_value_error(name):
    with pytest.raises(ValueError, match="prefer"):
        get_device(name)


@pytest.mark.parametrize("value", [3, 1.0, ["cpu"]])
def test_a_device_that_is_not_a_name_is_a_type_error(value):
    with pytest.raises(TypeError, match=f"prefer must be a device name .*got {type(value).__name__}"):
        get_device(value)
    with pytest.raises(TypeError, match="device must be a device name"):
        get_device(value, name="device")


def test_autocast_enabled_must_be_a_bool():
    with pytest.raises(TypeError, match="enabled must be True, False or None, got str"):
        autocast("cpu", enabled="yes")


def test_invalid_env_var_names_the_variable(monkeypatch):
    monkeypatch.setenv("LRCOURSE_DEVICE", "banana")
    with pytest.raises(ValueError, match="LRCOURSE_DEVICE"):
        get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is absent")
def test_missing_cuda_is_an_error_not_a_silent_fallback():
    with pytest.raises(ValueError, match="CUDA is not available"):
        get_device("cuda")


def test_to_device_nested():
    batch = {"x": torch.zeros(2), "pair": (torch.ones(1), [torch.ones(1)]), "n": 3}
    moved = to_device(batch, "cpu")
    assert moved["n"] == 3 and isinstance(moved["pair"], tuple) and isinstance(moved["pair"][1], list)


def test_autocast_is_a_noop_on_cpu():
    assert isinstance(autocast("cpu", enabled=True), contextlib.nullcontext)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_autocast_bf16_on_cuda():
    a = torch.randn(4, 4, device="cuda")
    with autocast("cuda"):
        assert (a @ a).dtype == torch.bfloat16
    with autocast("cuda", enabled=False):
        assert (a @ a).dtype == torch.float32
