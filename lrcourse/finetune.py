r"""Fine-tuning a pretrained network: transfer tasks, param groups with their own LRs, the fastai recipe.

The setting of notebook 14: pretrain an MLP on MNIST-1D classes 0-4 (the *source* task), then
fine-tune it on classes 5-9 (the *target* task) from a few labels per class. Every way of
fine-tuning is a list of torch param groups, **head first** (group 0 is the new output layer,
then the layers below it, top to bottom), so that one schedule drives them all: ``set_lr`` and
``ScheduleLR`` give group 0 the schedule's LR and every other group its built ratio to group 0
(``lrcourse.torch_bridge``); a group built at ``lr=0`` stays frozen.

- ``transfer_tasks(labels_per_class)``: the source and target ``Dataset``; ``pretrain``;
  ``with_new_head`` (the pretrained body, a fresh output layer).
- Param groups (``ARMS``): ``one_lr_groups`` (everything at one LR), ``head_only_groups`` (the
  body frozen: ``requires_grad=False`` and LR 0), ``discriminative_groups`` (fastai's
  ``slice(lo, hi)``: LRs spread geometrically from ``lo`` at the first layer to ``hi`` at the head),
  ``layerwise_lr_groups`` (layer-wise LR decay, LLRD: the head at ``lr``, each layer below at
  ``decay`` times the one above).

  .. math:: \eta_k = \eta \cdot \xi^{k}, \qquad k = 0 \text{ (head)}, 1, \dots, L-1 \text{ (first layer)}

  where eta is ``lr`` and xi ``decay``. Howard & Ruder (ULMFiT, 2018); Clark et al. (ELECTRA,
  2020) and Sun et al. (2019) for LLRD in BERT fine-tuning.
- ``finetune``: AdamW on the groups, warmup + linear decay (``warmup_linear``: BERT's fine-tuning
  schedule), through ``fit``. ``fine_tune``: fastai's ``Learner.fine_tune`` recipe: train the head
  only (body frozen), then unfreeze and train everything with discriminative LRs from
  ``base_lr / 2 / lr_mult`` to ``base_lr / 2`` (fastai uses 1cycle in both phases; here both use
  warmup + linear decay, so that the arms differ only in their param groups).
- ``check_layerwise_groups``: the exercise's check, which explains the first wrong group.

>>> model = mlp(40, hidden=(8, 8), out_features=5)
>>> [(g["name"], round(g["lr"], 6)) for g in layerwise_lr_groups(model, lr=1e-3, decay=0.5)]
[('head', 0.001), ('layer 2', 0.0005), ('layer 1', 0.00025)]
"""
from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Sequence

import torch
from torch import nn

from lrcourse import _checks
from lrcourse.data import Dataset, mnist1d
from lrcourse.exercises import NOT_ATTEMPTED, Result
from lrcourse.models import _seeded, mlp
from lrcourse.schedules import warmup_linear
from lrcourse.seeding import course_seed
from lrcourse.training import evaluate, fit

__all__ = ["SOURCE_CLASSES", "TARGET_CLASSES", "ARMS", "task", "transfer_tasks", "pretrain", "with_new_head",
           "layers", "one_lr_groups", "head_only_groups", "discriminative_groups", "layerwise_lr_groups",
           "arm_groups", "finetune", "fine_tune", "target_accuracy", "group_lr_curves", "check_layerwise_groups"]

SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)


# ------------------------------------------------------------------------------------- the tasks
def task(ds: Dataset, classes: Sequence[int], labels_per_class: int | None = None, seed: int = 0) -> Dataset:
    """The samples of ``classes`` in ``ds``, relabelled ``0..len(classes)-1``.

    ``labels_per_class``: keep only that many training samples per class, drawn with
    ``course_seed(seed)`` (the few-label regime of fine-tuning); validation and test stay whole.
    """
    classes = tuple(int(c) for c in classes)
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct class labels, got {classes!r}")
    if labels_per_class is not None:
        labels_per_class = _checks.integer("labels_per_class", labels_per_class, minimum=1)
    relabel = torch.full((ds.num_classes,), -1, dtype=torch.int64)
    relabel[list(classes)] = torch.arange(len(classes))
    gen = torch.Generator().manual_seed(course_seed(seed))

    def pick(split, few):
        X, y = split
        keep = []
        for c in classes:
            idx = torch.nonzero(y.cpu() == c).flatten()
            if few is not None:
                if len(idx) < few:
                    raise ValueError(f"labels_per_class={few}, but class {c} has only {len(idx)} training samples")
                idx = idx[torch.randperm(len(idx), generator=gen)[:few]]
            keep.append(idx)
        keep = torch.cat(keep).sort().values.to(y.device)
        return X[keep], relabel.to(y.device)[y[keep]]

    train, val, test = pick(ds.train, labels_per_class), pick(ds.val, None), pick(ds.test, None)
    few = f", {labels_per_class} training labels per class" if labels_per_class is not None else ""
    return Dataset(f"{ds.name}[{','.join(map(str, classes))}]", train, val, test, ds.num_features, len(classes),
                   ds.input_shape, f"{ds.description}; classes {list(classes)} as 0..{len(classes) - 1}{few}")


def transfer_tasks(labels_per_class: int = 20, seed: int = 0, device=None) -> tuple[Dataset, Dataset]:
    """``(source, target)``: MNIST-1D classes 0-4 (all labels) and 5-9 (``labels_per_class`` per class).

    >>> source, target = transfer_tasks(labels_per_class=10, device="cpu")
    >>> len(source.train[1]), len(target.train[1]), target.num_classes, int(target.train[1].max())
    (2000, 50, 5, 4)
    """
    ds = mnist1d(device=device)
    return task(ds, SOURCE_CLASSES), task(ds, TARGET_CLASSES, labels_per_class, seed)


def pretrain(source: Dataset, *, hidden=(128, 128), epochs: int = 10, lr: float = 0.3, batch_size: int = 128,
             seed: int = 0) -> nn.Sequential:
    """An MLP trained on ``source``: SGD with momentum 0.9, cosine from ``lr`` to 0 (``fit``)."""
    from lrcourse.schedules import CosineAnnealing

    model = mlp(source.num_features, hidden=hidden, out_features=source.num_classes, seed=seed)
    schedule = CosineAnnealing(lr, epochs * source.steps_per_epoch(batch_size))
    h = fit(model, source.train, source.val, epochs=epochs, batch_size=batch_size, schedule=schedule, seed=seed,
            optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9), progress=False)
    h.assert_follows(schedule)
    return model


def with_new_head(model: nn.Sequential, out_features: int, seed: int = 0) -> nn.Sequential:
    """A copy of ``model`` whose last ``Linear`` is replaced by a fresh one (seeded) with ``out_features`` outputs."""
    model = copy.deepcopy(model)
    last = layers(model)[-1]
    index = next(i for i, m in enumerate(model) if m is last)
    model[index] = _seeded(seed, lambda: nn.Linear(last.in_features, out_features))
    for p in model.parameters():
        p.requires_grad_(True)
    return model


# ---------------------------------------------------------------------------------- param groups
def layers(model: nn.Module) -> list[nn.Module]:
    """The layers that hold parameters directly, input to output (for ``mlp``: its ``Linear`` layers)."""
    found = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    if not found:
        raise ValueError("model has no parameters")
    return found


def _group(name: str, layer: nn.Module, lr: float) -> dict:
    return {"params": list(layer.parameters()), "lr": float(lr), "name": name}


def _names(model):
    n = len(layers(model))
    return ["head"] + [f"layer {n - k}" for k in range(1, n)]


def layerwise_lr_groups(model: nn.Module, lr: float, decay: float) -> list[dict]:
    r"""Layer-wise LR decay: group k (0 = head, then top to bottom) at ``lr * decay ** k``.

    The BERT fine-tuning recipe (ELECTRA, Clark et al. 2020: decay 0.8 over 12-24 layers); the
    lower a layer, the more general its features and the less it should move.
    """
    lr = _checks.non_negative("lr", lr)
    decay = _checks.real("decay", decay, low=0.0, high=1.0, low_open=True)
    return [_group(name, layer, lr * decay ** k) for k, (name, layer) in
            enumerate(zip(_names(model), reversed(layers(model))))]


def discriminative_groups(model: nn.Module, lr: float, lo: float) -> list[dict]:
    """fastai's ``slice(lo, lr)``: LRs spread geometrically from ``lo`` (first layer) to ``lr`` (head).

    With L layers, layer i (1 = first) gets ``lo * (lr / lo) ** ((i - 1) / (L - 1))``: the same
    as ``layerwise_lr_groups`` with ``decay = (lo / lr) ** (1 / (L - 1))``.
    """
    lr, lo = _checks.positive("lr", lr), _checks.positive("lo", lo)
    if lo > lr:
        raise ValueError(f"lo must be at most lr, got lo={lo!r} > lr={lr!r}")
    n = len(layers(model))
    return layerwise_lr_groups(model, lr, (lo / lr) ** (1 / (n - 1)) if n > 1 else 1.0)


def one_lr_groups(model: nn.Module, lr: float) -> list[dict]:
    """Every layer at ``lr`` (one group per layer, so that ``History.group_lrs`` shows them all)."""
    return layerwise_lr_groups(model, lr, 1.0)


def head_only_groups(model: nn.Module, lr: float) -> list[dict]:
    """The head at ``lr``, every other layer frozen: ``requires_grad=False`` and LR 0 (fastai's ``freeze``)."""
    groups = layerwise_lr_groups(model, lr, 1.0)
    for g in groups[1:]:
        g["lr"] = 0.0
        for p in g["params"]:
            p.requires_grad_(False)
    return groups


ARMS = {
    "all at one LR": lambda model, lr: one_lr_groups(model, lr),
    "head only": lambda model, lr: head_only_groups(model, lr),
    "LLRD": lambda model, lr, decay=0.3: layerwise_lr_groups(model, lr, decay),
    "discriminative": lambda model, lr, spread=100: discriminative_groups(model, lr, lr / spread),
}
"""The param-group builders of notebook 14 by name: ``ARMS[name](model, lr)``."""


def arm_groups(name: str, model: nn.Module, lr: float, **kwargs) -> list[dict]:
    """``ARMS[name](model, lr, **kwargs)``, with a readable error for an unknown name."""
    _checks.choice("name", name, tuple(ARMS))
    return ARMS[name](model, lr, **kwargs)


# ---------------------------------------------------------------------------------- fine-tuning
def finetune(model: nn.Module, groups: list[dict], target: Dataset, *, epochs: int, batch_size: int = 25,
             warmup_fraction: float = 0.1, weight_decay: float = 0.01, seed: int = 0):
    """Train ``groups`` of ``model`` on ``target``: AdamW, warmup + linear decay to 0, via ``fit``.

    Group 0's LR is the schedule's peak; the others keep their ratio to it (a group at 0 stays
    frozen). Returns ``(history, schedule)``; the applied LRs of every group are checked against
    ``schedule(t) * lr_k / lr_0`` before returning.
    """
    peak = groups[0]["lr"]
    total = epochs * target.steps_per_epoch(batch_size)
    schedule = warmup_linear(peak, total, max(1, round(warmup_fraction * total)))
    optimizer = torch.optim.AdamW(groups, lr=peak, weight_decay=weight_decay)
    h = fit(model, target.train, target.val, epochs=epochs, batch_size=batch_size, schedule=schedule,
            optimizer=optimizer, seed=seed, progress=False)
    _assert_groups_follow(h, schedule, [g["lr"] for g in groups])
    return h, schedule


def _assert_groups_follow(h, schedule, built):
    h.assert_follows(schedule)
    if len(built) > 1 and built[0] > 0:
        curve = schedule.curve(len(h.lr))
        for k, lr_k in enumerate(built):
            applied = [row[k] for row in h.group_lrs]
            expected = curve * (lr_k / built[0])
            assert all(math.isclose(a, e, rel_tol=1e-12, abs_tol=0) for a, e in zip(applied, expected)), \
                f"group {k}: applied LRs differ from schedule x {lr_k / built[0]:.4g}"


def fine_tune(model: nn.Module, target: Dataset, base_lr: float, *, freeze_epochs: int = 1, epochs: int,
              lr_mult: float = 100, batch_size: int = 25, weight_decay: float = 0.01, seed: int = 0):
    """fastai's ``Learner.fine_tune``: head only for ``freeze_epochs``, then everything, discriminatively.

    Phase 1: the body frozen, the head at ``base_lr``. Phase 2: ``base_lr`` halved, every layer
    unfrozen with LRs spread geometrically from ``base_lr / 2 / lr_mult`` (first layer) to
    ``base_lr / 2`` (head), for ``epochs`` epochs, with a new AdamW. Returns the two histories.
    """
    h1, _ = finetune(model, head_only_groups(model, base_lr), target, epochs=freeze_epochs, batch_size=batch_size,
                     weight_decay=weight_decay, seed=seed)
    for p in model.parameters():
        p.requires_grad_(True)
    h2, _ = finetune(model, discriminative_groups(model, base_lr / 2, base_lr / 2 / lr_mult), target,
                     epochs=epochs, batch_size=batch_size, weight_decay=weight_decay, seed=seed + 1)
    return h1, h2


def target_accuracy(model: nn.Module, target: Dataset) -> float:
    """Accuracy on ``target.test``."""
    return float(evaluate(model, target.test)[1])


def group_lr_curves(lr: float, *, layers: int = 4, rule: str = "LLRD", decay: float = 0.5, spread: float = 100,
                    total_steps: int = 200, warmup_fraction: float = 0.1):
    """The explorer's pure part: ``(names, lrs per group, curves (steps x groups))`` under warmup + linear decay.

    ``rule``: "LLRD" (``lr * decay ** k``), "discriminative" (``slice(lr / spread, lr)``),
    "one LR", "head only".

    >>> names, lrs, curves = group_lr_curves(1.0, layers=3, decay=0.5, total_steps=4, warmup_fraction=0.5)
    >>> names, lrs, curves[2].tolist()
    (['head', 'layer 2', 'layer 1'], [1.0, 0.5, 0.25], [1.0, 0.5, 0.25])
    """
    import numpy as np

    layers = _checks.integer("layers", layers, minimum=1)
    _checks.choice("rule", rule, ("LLRD", "discriminative", "one LR", "head only"))
    if rule == "LLRD":
        factors = [decay ** k for k in range(layers)]
    elif rule == "discriminative":
        factors = [(1 / spread) ** (k / (layers - 1)) if layers > 1 else 1.0 for k in range(layers)]
    else:
        factors = [1.0] + [1.0 if rule == "one LR" else 0.0] * (layers - 1)
    names = ["head"] + [f"layer {layers - k}" for k in range(1, layers)]
    sched = warmup_linear(lr, total_steps, max(1, round(warmup_fraction * total_steps)))
    curve = sched.curve(total_steps)
    return names, [lr * f for f in factors], np.outer(curve, factors)


# ------------------------------------------------------------------------------------ exercise
def _finish(result: Result, verbose: bool) -> Result:
    if verbose:
        print(result.message)
    return result


def _describe_params(params, model):
    where = {id(p): f"{name}.{pname}" for name, layer in zip(reversed(_names(model)), layers(model))
             for pname, p in layer.named_parameters(recurse=False)}
    return [where.get(id(p), "a tensor not in the model") for p in params]


def check_layerwise_groups(learner: Callable, *, lr: float = 1e-3, decay: float = 0.5, seed: int = 0,
                           verbose: bool = True) -> Result:
    """Check ``learner(model, lr, decay) -> [param groups]`` against ``layerwise_lr_groups``; explain the first miss.

    Tried on MLPs with 1 to 4 layers and, besides (``lr``, ``decay``), two random settings. Each
    group must hold exactly the parameters of its layer (head first, then top to bottom) and the
    LR ``lr * decay ** k``. Score = fraction of the settings right.
    """
    rng = random.Random(seed)
    settings = [((8, 8), lr, decay), ((), lr, decay), ((8,), rng.choice((0.1, 0.3)), rng.choice((0.5, 0.8))),
                ((8, 8, 8), rng.choice((0.01, 0.05)), rng.choice((0.3, 0.65)))]
    first, failures = None, 0
    for hidden, lr_, decay_ in settings:
        model = mlp(4, hidden=hidden, out_features=3)
        try:
            got = learner(model, lr_, decay_)
        except NotImplementedError:
            return _finish(Result(False, 0.0, NOT_ATTEMPTED, len(settings), len(settings), attempted=False), verbose)
        except Exception as exc:  # noqa: BLE001 - a learner's bug becomes an explanation
            problem = f"your function raised {type(exc).__name__}: {exc}"
        else:
            problem = _first_group_problem(got, model, lr_, decay_)
        if problem:
            failures += 1
            first = first or f"mlp with {len(hidden) + 1} layers, lr={lr_}, decay={decay_}: {problem}"
    score = (len(settings) - failures) / len(settings)
    if first is None:
        return _finish(Result(True, 1.0, f"✓ All {len(settings)} checks passed (models with 1 to 4 layers).",
                              len(settings), 0), verbose)
    text = f"✗ {first}\n  {len(settings) - failures} of {len(settings)} settings right (score {score:.2f})."
    return _finish(Result(False, score, text, len(settings), failures), verbose)


def _first_group_problem(got, model, lr, decay) -> str | None:
    want = layerwise_lr_groups(model, lr, decay)
    if got is None:
        return "your function returned None: return the list of param groups."
    try:
        got = list(got)
    except TypeError:
        return f"expected a list of param-group dicts, got {type(got).__name__}."
    if not all(isinstance(g, dict) and "params" in g for g in got):
        return "every group must be a dict with 'params' (and 'lr'), as torch.optim takes them."
    if len(got) != len(want):
        return (f"expected {len(want)} groups (one per layer with parameters: {', '.join(g['name'] for g in want)}), "
                f"got {len(got)}.")
    for k, (g, w) in enumerate(zip(got, want)):
        names = _describe_params(list(g["params"]), model)
        expected_names = _describe_params(w["params"], model)
        if sorted(names) != sorted(expected_names):
            hint = ""
            if k == 0 and sorted(names) == sorted(_describe_params(want[-1]["params"], model)):
                hint = " Group 0 must be the head (the last layer): go through the layers from the output down."
            elif len(names) < len(expected_names):
                hint = " Each layer has a weight and a bias: take layer.parameters(), not only the weight."
            return f"group {k} should hold {expected_names}, got {names}.{hint}"
        if "lr" not in g:
            return f"group {k} has no 'lr': give every group its own LR."
        value = float(g["lr"])
        if not math.isclose(value, w["lr"], rel_tol=1e-9, abs_tol=0):
            hint = ""
            if math.isclose(value, lr * decay ** (k + 1), rel_tol=1e-9):
                hint = " Your exponent is one too high: the head (group 0) gets lr itself, decay ** 0."
            elif k > 0 and math.isclose(value, lr * decay ** (k - 1), rel_tol=1e-9):
                hint = " Your exponent is one too low: group k gets lr * decay ** k, with the head at k = 0."
            elif math.isclose(value, lr * decay ** (len(want) - 1 - k), rel_tol=1e-9):
                hint = " The decay runs the wrong way: the head gets the largest LR, the first layer the smallest."
            elif k > 1 and math.isclose(value, lr * (1 - k * (1 - decay)), rel_tol=1e-9):
                hint = " The LR shrinks geometrically (times decay per layer), not by a fixed amount."
            return f"group {k} ({w['name']}) should have lr={w['lr']:.6g}, got {value:.6g}.{hint}"
    return None
