"""LRCOURSE_SEED_OFFSET shifts every seed the course uses, and nothing else."""
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from lrcourse import seeding
from lrcourse.data import digits
from lrcourse.models import cnn1d, mlp
from lrcourse.seeding import ENV_VAR, course_seed, environment_report, seed_offset, set_seed, use_offset
from lrcourse.training import fit


def test_default_offset_is_zero_and_changes_nothing(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert seed_offset() == 0 and course_seed(5) == 5
    monkeypatch.setenv(ENV_VAR, "  ")
    assert seed_offset() == 0


def test_offset_from_the_environment_and_the_override(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "7")
    assert seed_offset() == 7 and course_seed(5) == 12
    with use_offset(2):
        assert course_seed(5) == 7
        with use_offset(0):
            assert course_seed(5) == 5
        assert seed_offset() == 2
    assert seed_offset() == 7


@pytest.mark.parametrize("value", ["-1", "1.5", "abc"])
def test_bad_environment_value_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(ENV_VAR, value)
    with pytest.raises(ValueError, match=f"{ENV_VAR} must be an integer >= 0, got {value!r}"):
        seed_offset()


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (1.0, TypeError), (True, TypeError), ("1", TypeError)])
def test_bad_seed(seed, exc):
    with pytest.raises(exc, match="seed"):
        course_seed(seed)


def test_numpy_integers_are_seeds():
    assert course_seed(np.int64(3)) == 3 + seed_offset()


def test_set_seed_seeds_python_numpy_and_torch(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "4")
    assert set_seed(1) == 5
    draws = random.random(), np.random.rand(), torch.rand(1).item()
    monkeypatch.setenv(ENV_VAR, "0")
    set_seed(5)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == draws


def test_models_and_fit_follow_the_offset(monkeypatch):
    base = mlp(4, hidden=(3,), seed=1)[1].weight.clone()
    base_cnn = cnn1d(seed=1)[1].weight.clone()
    monkeypatch.setenv(ENV_VAR, "1")
    assert not torch.equal(mlp(4, hidden=(3,), seed=1)[1].weight, base)
    assert torch.equal(mlp(4, hidden=(3,), seed=0)[1].weight, base)  # offset 1 + seed 0 == seed 1
    assert torch.equal(cnn1d(seed=0)[1].weight, base_cnn)

    def run(seed):
        ds = digits(device="cpu")  # the split follows the offset too: same data for equal effective seeds
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(64, 10))
        torch.nn.init.zeros_(model[2].weight)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        return fit(model, ds.train, epochs=1, optimizer=opt, seed=seed, progress=False).loss

    shifted = run(0)
    monkeypatch.setenv(ENV_VAR, "0")
    assert run(0) != shifted  # a new draw of data split, shuffling and dropout
    monkeypatch.setenv(ENV_VAR, "0")


def test_environment_report_names_offset_versions_and_cpu(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "3")
    line = environment_report("cpu")
    assert "seed offset 3" in line and torch.__version__ in line and np.__version__ in line
    assert "CPU capability" in line and "device cpu" in line


def test_seeding_does_not_import_torch():
    code = "import sys; sys.modules['torch'] = None; import lrcourse.seeding as s; print(s.course_seed(1))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"LRCOURSE_SEED_OFFSET": "2"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"
    assert seeding.ENV_VAR == "LRCOURSE_SEED_OFFSET"
