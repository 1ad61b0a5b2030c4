"""Shared test setup.

Keras is only an oracle here: run it on the torch backend (no TensorFlow). The
variable must be set before the first ``import keras``.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import matplotlib

matplotlib.use("Agg")  # in-process only; never exported, so notebook kernels keep inline plots


import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny models: torch's thread pool only adds contention on a shared 2-core machine
    (`make test` also sets OMP_NUM_THREADS=1; this covers a plain `pytest` run)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


from hypothesis import settings  # noqa: E402

# CI runs a fixed set of examples (a submission cannot fail on a draw); local runs keep exploring.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
