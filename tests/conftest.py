"""Shared test setup.

Keras is only an oracle here: run it on the torch backend (no TensorFlow). The
variable must be set before the first ``import keras``.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import matplotlib

matplotlib.use("Agg")  # in-process only; never exported, so notebook kernels keep inline plots
