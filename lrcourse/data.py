"""Offline datasets as tensors on the device, and ``Batches``: minibatches by tensor slicing.

Nothing here downloads anything. ``digits()`` is scikit-learn's bundled 8x8 digits,
``mnist1d()`` generates MNIST-1D (Greydanus, 2020) locally and caches it, ``spirals()`` is a
2-D toy task for decision-boundary pictures. Each returns a ``Dataset`` whose ``train``, ``val``
and ``test`` are ``(X, y)`` tuples, ready for ``fit(model, ds.train, ds.val, ...)``.

Three splits, because choosing and reporting on the same samples inflates the result (the
winner's curse): choose on ``val`` (the peak LR, when to stop, when a plateau rule drops),
report on ``test``, which no decision has seen. Every split and every generated sample set is
drawn with ``course_seed(seed)``, so ``LRCOURSE_SEED_OFFSET`` redraws them.

``Batches`` replaces a ``DataLoader`` for data already on the device: it shuffles an index
tensor and slices, so there is no per-sample Python work (a DataLoader loop is about 2.7x
slower on digits). The shuffle order is a pure function of ``(seed, epoch)``.

>>> b = Batches(torch.arange(10.0), torch.arange(10), batch_size=4, shuffle=False)
>>> len(b), [len(y) for _, y in b]
(3, [4, 4, 2])
"""
from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lrcourse._checks import boolean, fraction, integer, real
from lrcourse._io import atomic_path
from lrcourse.device import get_device, to_device
from lrcourse.seeding import course_seed

CACHE_ENV_VAR = "LRCOURSE_CACHE"


@dataclass(frozen=True)
class Dataset:
    """A train/validation/test split of a classification task, as tensors on one device.

    ``train``, ``val`` and ``test`` are ``(X, y)``: X float32 of shape ``(n, *input_shape)``, y
    int64 class labels in ``[0, num_classes)``. Fit on ``train``, make decisions on ``val``,
    report on ``test``. ``num_features`` is the number of inputs per sample
    (the product of ``input_shape``), which is what ``mlp(in_features=...)`` needs.
    """

    name: str
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    num_features: int
    num_classes: int
    input_shape: tuple[int, ...]
    description: str

    def steps_per_epoch(self, batch_size: int = 64, drop_last: bool = False) -> int:
        """Optimizer updates per epoch on ``train``: what a schedule's ``total_steps`` needs.

        >>> ds = digits(device="cpu")
        >>> ds.steps_per_epoch(64), 10 * ds.steps_per_epoch(64)
        (17, 170)
        """
        return steps_per_epoch(len(self.train[1]), batch_size, drop_last)

    def __repr__(self) -> str:  # the tensors would flood a notebook cell
        return (f"Dataset(name={self.name!r}, train={len(self.train[1])}, val={len(self.val[1])}, "
                f"test={len(self.test[1])}, "
                f"input_shape={self.input_shape}, num_classes={self.num_classes}, "
                f"device={self.train[0].device})")


def _make(name, splits, num_classes, description, device) -> Dataset:
    """``splits``: ((X_train, y_train), (X_val, y_val), (X_test, y_test)) as arrays."""
    device = get_device(device) if device is not None else get_device()
    tr, va, te = ((torch.as_tensor(X, dtype=torch.float32).to(device), torch.as_tensor(y, dtype=torch.int64).to(device))
                  for X, y in splits)
    shape = tuple(tr[0].shape[1:])
    return Dataset(name, tr, va, te, int(np.prod(shape)), num_classes, shape, description)


def _split3(X, y, val_fraction, test_fraction, seed, stratify=True):
    """Split (X, y) into train/val/test, stratified by class, the same for the same seed."""
    from sklearn.model_selection import train_test_split

    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}")
    n = len(y)
    n_test = max(1, int(round(n * test_fraction)))
    n_val = max(1, int(round(n * val_fraction)))
    X_rest, X_te, y_rest, y_te = train_test_split(X, y, test_size=n_test, random_state=seed,
                                                  stratify=y if stratify else None)
    X_tr, X_va, y_tr, y_va = train_test_split(X_rest, y_rest, test_size=n_val, random_state=seed,
                                              stratify=y_rest if stratify else None)
    return (X_tr, y_tr), (X_va, y_va), (X_te, y_te)


def steps_per_epoch(data, batch_size: int = 64, drop_last: bool = False) -> int:
    """Optimizer updates per epoch: ``ceil(n / batch_size)``, or ``floor`` with ``drop_last``.

    ``data`` is a number of samples, an ``(X, y)`` tuple, a ``Batches`` or a ``DataLoader``
    (their own batch size and ``drop_last`` win; a DataLoader without a length raises TypeError).
    The one place the course converts epochs to updates: ``total_steps = epochs * steps_per_epoch``.

    >>> steps_per_epoch(1079, 64), steps_per_epoch(1079, 64, drop_last=True)
    (17, 16)
    """
    from torch.utils.data import DataLoader

    if isinstance(data, (Batches, DataLoader, LoaderBatches)):
        return len(data)
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[1], torch.Tensor):
        data = len(data[1])
    n = integer("data (number of samples)", data, minimum=0)
    return _batches_of(n, integer("batch_size", batch_size, minimum=1), boolean("drop_last", drop_last))


def _batches_of(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


def digits(val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0, device=None) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits: 1797 samples x 64 pixels, 10 classes.

    Pixels are scaled to [0, 1] (divided by 16, their maximum); no standardisation. The split is
    stratified by class and drawn with ``course_seed(seed)``: ``val_fraction`` of the samples go
    to ``val``, ``test_fraction`` to ``test``, the rest to ``train``. ``device=None`` means
    ``get_device()``.

    >>> ds = digits(device="cpu")
    >>> ds.train[0].shape, ds.val[0].shape, ds.test[0].shape, ds.num_classes, float(ds.train[0].max())
    (torch.Size([1079, 64]), torch.Size([359, 64]), torch.Size([359, 64]), 10, 1.0)
    """
    from sklearn.datasets import load_digits

    fraction("val_fraction", val_fraction)
    fraction("test_fraction", test_fraction)
    seed = integer("seed", seed, minimum=0)
    X, y = load_digits(return_X_y=True)
    splits = _split3(X / 16.0, y, val_fraction, test_fraction, course_seed(seed))
    return _make("digits", splits, 10, "scikit-learn 8x8 digits, pixels scaled to [0, 1], stratified split", device)


def cache_dir() -> Path:
    """The folder for generated data: ``$LRCOURSE_CACHE`` if set, else ``~/.cache/lrcourse``."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lrcourse"


def _digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def _load_cache(path: Path, expected_shapes: dict):
    """Return the cached arrays, or None if the file is missing, partial, corrupt or stale."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in expected_shapes}
            digest = str(f["sha256"])
    except Exception:  # noqa: BLE001  missing, truncated, not a zip, missing key: all mean "regenerate"
        return None
    if any(arrays[k].shape != shape for k, shape in expected_shapes.items()):
        return None
    return arrays if _digest(arrays) == digest else None


def _save_cache(path: Path, arrays: dict) -> None:
    """Write atomically: a crash mid-write leaves the old file (or none), never a partial one."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, sha256=np.array(_digest(arrays)), **arrays)


def _mnist1d_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mnist1d")
    except PackageNotFoundError:  # imported from a source checkout
        return "unknown"


def _generate_mnist1d(num_samples: int, seed: int) -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    # make_dataset reseeds numpy's and Python's global RNGs; put them back afterwards
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)  # local generation; never get_dataset(), which downloads
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    # one pool: the package's own 80/20 split is replaced by our stratified train/val/test
    return {"x": np.concatenate([d["x"], d["x_test"]]).astype(np.float32),
            "y": np.concatenate([d["y"], d["y_test"]]).astype(np.int64)}


def mnist1d(num_samples: int = 6000, seed: int = 42, device=None, cache: bool = True,
            val_fraction: float = 1 / 6, test_fraction: float = 1 / 6) -> Dataset:
    """MNIST-1D (Greydanus, 2020): 10 classes of 1-D signals of length 40, generated locally.

    ``num_samples`` signals are generated with ``course_seed(seed)`` (``seed=42`` is the
    package's canonical seed) and split, stratified by class, into train / val / test:
    4000 / 1000 / 1000 with the defaults. Inputs are standardised by the generator (mean 0,
    std 1 over the whole set). The arrays are cached in ``cache_dir()`` as ``.npz`` with a
    SHA-256 of their contents, keyed by size, seed and the mnist1d version; a missing, partial
    or corrupt file is regenerated (about 1 s). An MLP reaches only about 0.65-0.73 accuracy,
    so schedule differences are visible here, unlike on ``digits``.

    >>> ds = mnist1d(device="cpu")
    >>> ds.train[0].shape, ds.val[0].shape, ds.test[0].shape, ds.input_shape
    (torch.Size([4000, 40]), torch.Size([1000, 40]), torch.Size([1000, 40]), (40,))
    """
    num_samples = integer("num_samples", num_samples, minimum=30)
    seed = integer("seed", seed, minimum=0)
    fraction("val_fraction", val_fraction)
    fraction("test_fraction", test_fraction)
    seed = course_seed(seed)
    n = (num_samples // 10) * 10  # the generator makes whole sets of 10 classes
    shapes = {"x": (n, 40), "y": (n,)}
    version = "".join(c if c.isalnum() or c in ".-" else "_" for c in _mnist1d_version())
    path = cache_dir() / f"mnist1d-{version}_n{num_samples}_seed{seed}.npz"
    arrays = _load_cache(path, shapes) if cache else None
    if arrays is None:
        arrays = _generate_mnist1d(num_samples, seed)
        if cache:
            _save_cache(path, arrays)
    splits = _split3(arrays["x"], arrays["y"], val_fraction, test_fraction, seed)
    return _make("mnist1d", splits, 10,
                 f"MNIST-1D (Greydanus 2020), {n} samples x 40 generated with seed {seed}, "
                 f"split {len(splits[0][1])}/{len(splits[1][1])}/{len(splits[2][1])}", device)


def spirals(n: int = 600, noise: float = 0.2, num_classes: int = 2, val_fraction: float = 0.25,
            seed: int = 0, device=None, test_fraction: float = 0.25) -> Dataset:
    r"""Interleaved 2-D spirals, one arm per class: a task for decision-boundary pictures.

    Arm k at parameter r in [0, 1]: angle :math:`\theta = 3\pi r + 2\pi k / K`,
    point :math:`r(\cos\theta, \sin\theta) + \epsilon` with Gaussian ``noise`` :math:`\epsilon`
    scaled by 0.1. ``n`` samples in total (split evenly between classes), shuffled, then
    ``val_fraction`` of them held out for ``val`` and ``test_fraction`` for ``test``.
    Deterministic in ``course_seed(seed)``.

    >>> ds = spirals(n=100, device="cpu")
    >>> ds.train[0].shape, ds.val[0].shape, ds.test[0].shape, sorted(set(ds.train[1].tolist()))
    (torch.Size([50, 2]), torch.Size([25, 2]), torch.Size([25, 2]), [0, 1])
    """
    n = integer("n", n, minimum=4)
    num_classes = integer("num_classes", num_classes, minimum=2)
    seed = integer("seed", seed, minimum=0)
    fraction("val_fraction", val_fraction)
    fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}")
    noise = real("noise", noise, low=0)
    rng = np.random.default_rng(course_seed(seed))
    y = np.arange(n) % num_classes
    r = rng.uniform(0.05, 1.0, n)
    theta = 3 * np.pi * r + 2 * np.pi * y / num_classes
    X = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1) + 0.1 * noise * rng.standard_normal((n, 2))
    order = rng.permutation(n)
    X, y = X[order], y[order]
    n_val = max(1, int(round(n * val_fraction)))
    n_test = max(1, int(round(n * test_fraction)))
    if n_val + n_test >= n:
        raise ValueError(f"n={n} is too small to hold out {n_val} val and {n_test} test samples")
    splits = ((X[n_val + n_test:], y[n_val + n_test:]), (X[:n_val], y[:n_val]),
              (X[n_val:n_val + n_test], y[n_val:n_val + n_test]))
    return _make("spirals", splits, num_classes, f"{num_classes} interleaved 2-D spirals, noise {noise}", device)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63)


class Batches:
    """Minibatches of ``(X, y)`` by slicing tensors that already live on the device.

    Each iteration visits every sample once, in an order drawn from a CPU ``torch.Generator``
    seeded by ``(course_seed(seed), epoch)``: call ``set_epoch(epoch)`` to reshuffle; iterating twice without
    it repeats the same order (that is what makes resuming a run exact). The last partial batch
    is kept unless ``drop_last``. ``len()`` is the number of batches.

    >>> b = Batches(torch.arange(6.0), torch.arange(6), batch_size=4, seed=0)
    >>> b.set_epoch(1); [y.tolist() for _, y in b] == [y.tolist() for _, y in b]
    True
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int = 64, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False):
        if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(f"X and y must be torch tensors, got {type(X).__name__} and {type(y).__name__}")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X and y must have the same number of samples, got {X.shape[0]} and {y.shape[0]}")
        if X.device != y.device:
            raise ValueError(f"X and y must be on the same device, got {X.device} and {y.device}")
        batch_size = integer("batch_size", batch_size, minimum=1)
        seed = integer("seed", seed, minimum=0)
        shuffle, drop_last = boolean("shuffle", shuffle), boolean("drop_last", drop_last)
        if drop_last and X.shape[0] < batch_size:
            raise ValueError(f"batch_size={batch_size} with drop_last=True leaves no batch of {X.shape[0]} samples")
        self.X, self.y = X, y
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.epoch = 0

    @property
    def device(self) -> torch.device:
        return self.X.device

    def set_epoch(self, epoch: int) -> None:
        """Choose the shuffle order of the next iterations: a pure function of (seed, epoch)."""
        self.epoch = integer("epoch", epoch, minimum=0)

    def __len__(self) -> int:
        return _batches_of(self.X.shape[0], self.batch_size, self.drop_last)  # steps_per_epoch, checked already

    def __iter__(self):
        n, bs = self.X.shape[0], self.batch_size
        if self.shuffle:
            g = torch.Generator().manual_seed(_epoch_seed(course_seed(self.seed), self.epoch))
            index = torch.randperm(n, generator=g).to(self.X.device)
        for i in range(len(self)):
            if self.shuffle:
                idx = index[i * bs:(i + 1) * bs]
                yield self.X[idx], self.y[idx]
            else:  # plain slices are views: no copy at all
                yield self.X[i * bs:(i + 1) * bs], self.y[i * bs:(i + 1) * bs]

    def __repr__(self) -> str:
        return (f"Batches(n={self.X.shape[0]}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"seed={self.seed}, drop_last={self.drop_last}, device={self.X.device})")


class LoaderBatches:
    """A ``DataLoader``'s batches, checked and moved to ``device``: what ``fit`` iterates over.

    The first batch of every pass must be an ``(inputs, targets)`` pair of tensors: a dict, a
    triple or anything else is refused with a message that says what to change (otherwise it
    fails later in the model, or unpacks a dict's keys). A pass that yields no batch at all (an
    empty ``IterableDataset``) raises ValueError. ``set_epoch`` is passed on to a sampler that
    has one (``DistributedSampler``). ``len()`` is the loader's (TypeError without one).
    """

    def __init__(self, loader, device=None, name: str = "data"):
        self.loader, self.device, self.name = loader, device, name

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)

    def __iter__(self):
        empty = True
        for batch in self.loader:
            if empty:
                check_batch(batch, self.name)
                empty = False
            yield batch if self.device is None else to_device(tuple(batch), self.device, non_blocking=True)
        if empty:
            raise ValueError(f"{self.name} yielded no batches: its DataLoader is empty")

    def __repr__(self) -> str:
        return f"LoaderBatches({self.loader!r}, device={self.device})"


def check_batch(batch, name: str = "data") -> None:
    """Raise a clear error unless ``batch`` is an ``(inputs, targets)`` pair of tensors."""
    if isinstance(batch, dict):
        raise TypeError(f"{name} yields dict batches (keys {list(batch)[:6]}); fit needs (inputs, targets) pairs: "
                        f"return (x, y) from the Dataset's __getitem__, or give the DataLoader a collate_fn that does")
    if not isinstance(batch, (tuple, list)):
        raise TypeError(f"{name} yields {type(batch).__name__} batches; fit needs (inputs, targets) pairs of tensors")
    if len(batch) != 2:
        raise ValueError(f"{name} yields batches of {len(batch)} items; fit needs exactly 2, (inputs, targets): "
                         f"drop the extra items in the Dataset or in a collate_fn")
    if not all(isinstance(t, torch.Tensor) for t in batch):
        raise TypeError(f"{name} yields ({', '.join(type(t).__name__ for t in batch)}) batches; "
                        f"fit needs (inputs, targets) tensors")


def as_batches(data, batch_size: int = 64, seed: int = 0, shuffle: bool = True, device=None, name: str = "data"):
    """Turn training data into an iterable of ``(X, y)`` batches; every loop in lrcourse uses this.

    - ``(X, y)`` tuple of tensors -> ``Batches(X, y, batch_size, shuffle, seed)``;
    - a ``Batches`` -> returned as is (its own batch size and shuffling win);
    - a ``torch.utils.data.DataLoader`` -> as is, or, when ``device`` is given, a
      ``LoaderBatches`` that checks its batches and moves them there (its own batch size and
      shuffling win; ``batch_size``/``seed`` are ignored);
    - a ``Dataset`` -> TypeError asking for ``ds.train`` or ``ds.val``.

    ``name`` is how errors refer to the data ("train", "val").

    >>> len(as_batches((torch.zeros(10, 2), torch.zeros(10)), batch_size=3))
    4
    """
    from torch.utils.data import DataLoader

    if isinstance(data, (Batches, LoaderBatches)):
        return data
    if isinstance(data, DataLoader):
        return data if device is None else LoaderBatches(data, device, name)
    if isinstance(data, Dataset):
        raise TypeError(f"{name} must be an (X, y) tuple, Batches or DataLoader; got the whole Dataset "
                        f"{data.name!r}: pass ds.train or ds.val")
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return Batches(data[0], data[1], batch_size=batch_size, shuffle=shuffle, seed=seed)
    raise TypeError(f"{name} must be an (X, y) tuple of tensors, a Batches or a DataLoader, got {type(data).__name__}")


def num_samples(data) -> int | None:
    """Samples in ``data`` (tuple, ``Batches``, or a DataLoader over a sized dataset), else None."""
    if isinstance(data, LoaderBatches):
        data = data.loader
    if isinstance(data, Batches):
        return int(data.X.shape[0])
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[1], torch.Tensor):
        return int(data[1].shape[0])
    try:
        return len(data.dataset)
    except (AttributeError, TypeError):
        return None


def fingerprint(data, samples: int = 257) -> str:
    """A cheap identity of training data: sizes, dtypes and a hash of ``samples`` evenly spaced rows.

    For tensors (a tuple, a ``Batches``, or a DataLoader over a ``TensorDataset``): the shapes,
    dtypes and the SHA-256 of up to ``samples`` rows spread over the set (copied to the CPU, so
    it costs about as much as one batch). For any other DataLoader: its dataset's class and
    length. A resumed run compares it with its checkpoint's: other data is refused.

    >>> x = torch.arange(12.0).reshape(6, 2); y = torch.arange(6)
    >>> fingerprint((x, y)) == fingerprint((x.clone(), y)), fingerprint((x, y)) == fingerprint((x + 1, y))
    (True, False)
    """
    tensors = None
    if isinstance(data, LoaderBatches):
        data = data.loader
    if isinstance(data, Batches):
        tensors = (data.X, data.y)
    elif isinstance(data, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in data):
        tensors = tuple(data)
    elif isinstance(getattr(data, "dataset", None), torch.utils.data.TensorDataset):
        tensors = data.dataset.tensors
    if tensors is None:
        dataset = getattr(data, "dataset", data)
        return f"{type(dataset).__name__} of {num_samples(data)} samples"
    h = hashlib.sha256()
    for t in tensors:
        rows = torch.linspace(0, len(t) - 1, min(samples, len(t))).round().long().to(t.device) if len(t) else None
        picked = (t[rows] if rows is not None else t).detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(picked.reshape(-1).view(torch.uint8).numpy().tobytes() if picked.numel() else b"")
    return f"{'x'.join(str(tuple(t.shape)) for t in tensors)} sha256:{h.hexdigest()[:16]}"
