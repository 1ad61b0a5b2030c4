"""Where tensors live: pick a device, move batches to it, and autocast on CUDA only.

The course runs everywhere on the CPU; a GPU (CUDA) or Apple's MPS is used when present.
The choice is explicit: call ``get_device()`` once and pass the result around.

>>> get_device("cpu")
device(type='cpu')
>>> to_device({"x": torch.zeros(2), "y": [torch.ones(1)]}, "cpu")["y"][0].device
device(type='cpu')
"""
from __future__ import annotations

import contextlib
import os

import numpy as np
import torch

ENV_VAR = "LRCOURSE_DEVICE"
_KNOWN = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(prefer: str | torch.device | None = None, *, name: str = "prefer") -> torch.device:
    """Return the device to train on: CUDA if available, then Apple MPS, then the CPU.

    ``prefer`` (or, when it is None, the environment variable ``LRCOURSE_DEVICE``) overrides
    the automatic choice, e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``. An unknown
    name raises ValueError (anything but a string or ``torch.device``: TypeError); asking for an
    accelerator that is not there raises ValueError too, rather than silently falling back to
    the CPU. ``name`` is how errors refer to the argument (``fit`` passes ``"device"``).

    >>> get_device("cpu").type
    'cpu'
    """
    if prefer is not None and not isinstance(prefer, (str, torch.device)):
        raise TypeError(f"{name} must be a device name such as 'cpu' or 'cuda', or a torch.device, "
                        f"got {type(prefer).__name__} {prefer!r}")
    choice = prefer if prefer is not None else os.environ.get(ENV_VAR) or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    source = name if prefer is not None else ENV_VAR
    try:
        device = torch.device(choice)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{source} must name a device like 'cpu', 'cuda' or 'mps', got {choice!r}") from err
    if device.type not in _KNOWN:
        raise ValueError(f"{source} must be one of {_KNOWN} (optionally 'cuda:N'), got {choice!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{source}={choice!r} but CUDA is not available on this machine")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"{source}={choice!r} but Apple MPS is not available on this machine")
    return device


def to_device(batch, device: str | torch.device, non_blocking: bool = False):
    """Move a tensor, or a tuple/list/dict of them (nested), to ``device``; other values pass through.

    >>> to_device((torch.zeros(1), 3), "cpu")[1]
    3
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        moved = [to_device(v, device, non_blocking) for v in batch]
        return type(batch)(moved) if not hasattr(batch, "_fields") else type(batch)(*moved)
    return batch


def autocast(device: str | torch.device, enabled: bool | None = None):
    """Mixed precision where it helps: bf16 ``torch.autocast`` on CUDA, a no-op elsewhere.

    ``enabled=None`` means "on for CUDA, off otherwise". On the CPU and MPS this always
    returns ``contextlib.nullcontext()``, so results there are plain float32 and reproducible.

    >>> with autocast("cpu"):
    ...     (torch.ones(2) * 2).dtype
    torch.float32
    """
    device = torch.device(device)
    if enabled is None:
        enabled = device.type == "cuda"
    elif not isinstance(enabled, (bool, np.bool_)):
        raise TypeError(f"enabled must be True, False or None, got {type(enabled).__name__} {enabled!r}")
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
