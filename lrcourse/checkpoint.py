"""Checkpoints of a ``fit`` run: written atomically, read safely, restored exactly.

A checkpoint is one ``torch.save`` file holding a dict of tensors and plain values only:

=================  ==============================================================================
``format``         ``"lrcourse-checkpoint-2"``
``model``          ``model.state_dict()`` (and ``model_class``, for error messages)
``optimizer``      ``optimizer.state_dict()`` (momentum buffers, Adam moments, the LR it holds)
``step, epoch``    updates and epochs done
``schedule``       what identifies the schedule (``{"class", "config", "repr"}``, or None)
``schedule_state`` where it stands (plateau counters, a torch scheduler's ``state_dict``)
``settings``       what a resumed run must share: ``step_per``, batch size, batches per epoch, a
                   fingerprint of the training data, the shuffling seed, the optimizer's class and
                   hyper-parameters as built, the schedule
``rng``            the random number generators' states (dropout, a shuffling DataLoader)
``history``        ``History.to_dict()``
``checksum``       SHA-256 of everything above, tensors by their bytes
=================  ==============================================================================

- **Write**: ``torch.save`` to a temporary file in the same folder, ``fsync``, ``os.replace``
  (``lrcourse._io.atomic_path``): a crash at any moment, SIGKILL included, leaves the previous
  checkpoint intact.
- **Read**: ``torch.load(weights_only=True)``, which builds tensors and plain containers and
  refuses anything else: a malicious pickle is an error, its code never runs. Then the
  checksum: a flipped bit is an error, not a silently different model.
- **Restore**: every setting is compared with the run's first, and all differences are named
  at once; then model, optimizer, schedule, counters, history and random state are loaded, so a
  resumed run continues bit for bit as the uninterrupted one would have (on the same machine).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from lrcourse._io import atomic_path

FORMAT = "lrcourse-checkpoint-2"
KEYS = ("format", "model", "model_class", "optimizer", "step", "epoch", "schedule", "schedule_state",
        "settings", "rng", "history", "checksum")

__all__ = ["FORMAT", "check_path", "checksum", "load_checkpoint", "restore", "save"]


def check_path(path) -> Path:
    """``checkpoint_path`` as a Path, refused before training if it cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"checkpoint_path={str(path)!r} is a folder: give a file name, e.g. {str(path / 'run.pt')!r}")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"checkpoint_path={str(path)!r}: cannot create its folder ({err})") from err
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"checkpoint_path={str(path)!r}: its folder is not writable")
    return path


# --- the checksum ------------------------------------------------------------------------------


def checksum(payload) -> str:
    """SHA-256 of ``payload``: dicts (keys sorted), lists, tensors (dtype, shape, bytes), plain values.

    >>> a = {"w": torch.ones(2), "step": 3}
    >>> checksum(a) == checksum({"step": 3, "w": torch.ones(2)}), checksum(a) == checksum({**a, "step": 4})
    (True, False)
    """
    h = hashlib.sha256()
    _feed(h, payload)
    return "sha256:" + h.hexdigest()


def _feed(h, x) -> None:
    if isinstance(x, dict):
        h.update(b"{%d" % len(x))
        for key in sorted(x, key=repr):
            _feed(h, key)
            _feed(h, x[key])
    elif isinstance(x, (list, tuple)):
        h.update(b"[%d" % len(x))
        for v in x:
            _feed(h, v)
    elif isinstance(x, torch.Tensor):
        t = x.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    else:
        h.update(f"{type(x).__name__}:{x!r};".encode())


# --- save and load -------------------------------------------------------------------------------


def rng_state(device: torch.device) -> dict:
    """The CPU generator's state, and the device's for CUDA."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def save(path, trainer, schedule, settings: dict) -> None:
    """Write the checkpoint of ``trainer`` (after its epoch ``trainer.epoch``) atomically to ``path``."""
    payload = {
        "format": FORMAT,
        "model": trainer.model.state_dict(),
        "model_class": type(trainer.model).__name__,
        "optimizer": trainer.optimizer.state_dict(),
        "step": trainer.step,
        "epoch": trainer.epoch + 1,  # epochs completed
        "schedule": settings["schedule"],
        "schedule_state": schedule.state_dict(),
        "settings": settings,
        "rng": rng_state(trainer.device),
        "history": trainer.history.to_dict(),
    }
    payload["checksum"] = checksum(payload)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by ``fit(checkpoint_path=...)``: ``weights_only=True``, checksum verified."""
    where = f"resume_from={str(path)!r}"
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(f"{where} is not a readable checkpoint (corrupt or partial file?): "
                         f"{type(err).__name__}: {str(err)[:200]}") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else None
        older = isinstance(found, str) and found.startswith("lrcourse-checkpoint")
        raise ValueError(f"{where} is not an lrcourse checkpoint ({FORMAT})"
                         + (f": it has format {found!r}, from an older lrcourse; start a new run" if older else ""))
    missing = [key for key in KEYS if key not in ckpt]
    if missing:
        raise ValueError(f"{where} is an incomplete lrcourse checkpoint: it has no {', '.join(missing)} "
                         f"(not written by fit, or damaged); start a new run")
    if checksum({k: v for k, v in ckpt.items() if k != "checksum"}) != ckpt["checksum"]:
        raise ValueError(f"{where} is damaged: its contents do not match their checksum (a changed byte); "
                         f"resume from an intact copy, or start a new run")
    return ckpt


# --- restore -------------------------------------------------------------------------------------


def _differences(saved, now, path="", limit=3) -> list:
    """'path: checkpoint A, now B' for the first ``limit`` places where two plain values differ."""
    if isinstance(saved, dict) and isinstance(now, dict):
        out = []
        for key in list(saved) + [k for k in now if k not in saved]:
            out += _differences(saved.get(key), now.get(key), f"{path}{key}" if not path else f"{path}.{key}", limit)
        return out[:limit]
    if isinstance(saved, (list, tuple)) and isinstance(now, (list, tuple)) and len(saved) == len(now):
        out = []
        for i, (a, b) in enumerate(zip(saved, now)):
            out += _differences(a, b, f"{path}[{i}]", limit)
        return out[:limit]
    return [] if saved == now else [f"{path}: checkpoint {saved!r}, now {now!r}"]


def _setting_differences(saved: dict, now: dict, epochs: int, epochs_done: int) -> list:
    out = []
    if epochs < epochs_done:
        out.append(f"epochs={epochs}, but the checkpoint has already done {epochs_done} epochs: "
                   f"pass epochs >= {epochs_done}")
    for key, what in (("step_per", "step_per"), ("batch_size", "batch size"), ("steps_per_epoch", "batches per epoch"),
                      ("data", "training data (fingerprint)")):
        if saved.get(key) != now.get(key):
            out.append(f"{what}: checkpoint {saved.get(key)!r}, now {now.get(key)!r}")
    if saved.get("shuffle_seed") != now.get("shuffle_seed"):
        out.append(f"shuffled with seed {saved.get('shuffle_seed')} (seed + LRCOURSE_SEED_OFFSET), fit got "
                   f"{now.get('shuffle_seed')}: pass the same seed and offset")
    opt_saved, opt_now = saved.get("optimizer") or {}, now.get("optimizer") or {}
    if opt_saved.get("class") != opt_now.get("class"):
        out.append(f"was trained with optimizer {opt_saved.get('class')}, fit got {opt_now.get('class')}")
    else:
        out += [f"optimizer hyper-parameters (as built): {d}"
                for d in _differences(opt_saved.get("groups"), opt_now.get("groups"), "param_groups")]
    sched_saved, sched_now = saved.get("schedule"), now.get("schedule")
    same_class = bool(sched_saved and sched_now and sched_saved.get("class") == sched_now.get("class"))
    if (sched_saved is None) != (sched_now is None) or (sched_saved and not (
            same_class and sched_saved.get("config") == sched_now.get("config"))):
        detail = (" (" + "; ".join(_differences(sched_saved.get("config"), sched_now.get("config"))) + ")"
                  if same_class else "")
        out.append(f"was trained with schedule {sched_saved and sched_saved['repr']!r}, but fit got "
                   f"{sched_now and sched_now['repr']!r}{detail}")
    return out


def restore(path, trainer, schedule, settings: dict):
    """Load checkpoint ``path`` into ``trainer`` and ``schedule``; return the restored ``History``.

    Raises ValueError naming every setting that differs from the checkpointed run's (nothing is
    loaded then), or when the model or optimizer state does not fit.
    """
    from lrcourse.training import History

    where = f"resume_from={str(path)!r}"
    ckpt = load_checkpoint(path, map_location=trainer.device)
    differences = _setting_differences(ckpt["settings"], settings, trainer.epochs, int(ckpt["epoch"]))
    if differences:
        raise ValueError(f"{where} cannot continue this run: " + "; ".join(differences))
    try:
        trainer.model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ValueError(f"{where} was saved from a different model ({ckpt['model_class']}): {str(err)[:300]}") from err
    try:
        trainer.optimizer.load_state_dict(ckpt["optimizer"])
    except (ValueError, KeyError) as err:
        raise ValueError(f"{where}: the optimizer state does not fit this optimizer: {err}") from err
    schedule.load_state_dict(ckpt["schedule_state"])
    trainer.step, trainer.epoch = int(ckpt["step"]), int(ckpt["epoch"])
    trainer.history = History.from_dict(ckpt["history"])
    torch.set_rng_state(ckpt["rng"]["cpu"])
    if "cuda" in ckpt["rng"] and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(ckpt["rng"]["cuda"], trainer.device)
    return trainer.history
