"""Datasets are offline, deterministic and cached safely; Batches shuffles by (seed, epoch)."""
import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lrcourse import data as data_mod
from lrcourse.data import (
    Batches,
    Dataset,
    LoaderBatches,
    as_batches,
    digits,
    fingerprint,
    mnist1d,
    spirals,
    steps_per_epoch,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LRCOURSE_CACHE", str(tmp_path))
    return tmp_path


def test_digits_shapes_scale_and_stratified_split():
    ds = digits(device="cpu")
    assert isinstance(ds, Dataset)
    assert ds.num_features == 64 and ds.input_shape == (64,) and ds.num_classes == 10
    assert ds.train[0].dtype == torch.float32 and ds.train[1].dtype == torch.int64
    assert 0.0 <= float(ds.train[0].min()) and float(ds.train[0].max()) <= 1.0
    counts = torch.bincount(ds.val[1], minlength=10)
    assert int(counts.max() - counts.min()) <= 2  # stratified: every class about 36 of 360


def test_digits_is_deterministic_and_seed_changes_split():
    a, b, c = digits(device="cpu"), digits(device="cpu"), digits(seed=1, device="cpu")
    assert torch.equal(a.train[0], b.train[0])
    assert not torch.equal(a.train[0], c.train[0])


def test_mnist1d_three_way_split_and_cache_roundtrip(cache):
    state = np.random.get_state()[1].copy(), random.getstate()
    ds = mnist1d(device="cpu")
    assert ds.train[0].shape == (4000, 40) and ds.val[0].shape == (1000, 40) and ds.test[0].shape == (1000, 40)
    assert np.array_equal(np.random.get_state()[1], state[0]) and random.getstate() == state[1]
    files = list(cache.glob("mnist1d-*.npz"))
    assert len(files) == 1 and data_mod._mnist1d_version() in files[0].name  # the version is in the key
    again = mnist1d(device="cpu")
    assert torch.equal(ds.train[0], again.train[0]) and torch.equal(ds.val[1], again.val[1])
    assert torch.equal(ds.test[0], again.test[0])
    for split in (ds.val, ds.test):  # stratified: every class about 100 of 1000
        counts = torch.bincount(split[1], minlength=10)
        assert int(counts.max() - counts.min()) <= 2


def test_mnist1d_corrupt_or_partial_cache_is_regenerated(cache, monkeypatch):
    ds = mnist1d(num_samples=200, device="cpu")
    path = next(cache.glob("mnist1d-*.npz"))
    calls = []
    real = data_mod._generate_mnist1d
    monkeypatch.setattr(data_mod, "_generate_mnist1d", lambda *a: calls.append(a) or real(*a))
    mnist1d(num_samples=200, device="cpu")
    assert calls == []  # a good cache is used
    path.write_bytes(path.read_bytes()[:100])  # partial file
    again = mnist1d(num_samples=200, device="cpu")
    assert len(calls) == 1 and torch.equal(ds.train[0], again.train[0])
    # a well-formed file whose contents do not match its checksum is also rejected
    arrays = {k: v for k, v in np.load(path).items()}
    arrays["x"] = arrays["x"] + 1
    np.savez(path, **arrays)
    mnist1d(num_samples=200, device="cpu")
    assert len(calls) == 2
    assert not list(cache.glob("*.tmp"))


def test_spirals_deterministic_and_balanced():
    a, b = spirals(n=200, seed=3, device="cpu"), spirals(n=200, seed=3, device="cpu")
    assert torch.equal(a.train[0], b.train[0]) and a.input_shape == (2,)
    y = torch.cat([a.train[1], a.val[1], a.test[1]])
    assert torch.bincount(y).tolist() == [100, 100]
    assert len(a.val[1]) == len(a.test[1]) == 50


@pytest.mark.parametrize("call, exc, message", [
    (lambda: digits(val_fraction=1.5), ValueError, "val_fraction must be < 1, got 1.5"),
    (lambda: digits(val_fraction="0.2"), TypeError, "val_fraction must be a real number, got str"),
    (lambda: digits(seed=-1), ValueError, "seed must be >= 0, got -1"),
    (lambda: mnist1d(num_samples=0), ValueError, "num_samples must be >= 30, got 0"),
    (lambda: mnist1d(num_samples=300.5), ValueError, "num_samples must be an integer, got 300.5"),
    (lambda: spirals(noise=-1), ValueError, "noise must be >= 0, got -1"),
    (lambda: spirals(noise=None), TypeError, "noise must be a real number, got NoneType"),
    (lambda: spirals(num_classes=True), TypeError, "num_classes must be an integer, got bool"),
    (lambda: Batches(torch.zeros(3), torch.zeros(3), batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
    (lambda: Batches(torch.zeros(3), torch.zeros(3), batch_size="2"), TypeError, "batch_size must be an integer"),
    (lambda: Batches(torch.zeros(3), torch.zeros(3), shuffle=1), TypeError, "shuffle must be True or False"),
    (lambda: Batches(torch.zeros(3), torch.zeros(4)), ValueError, "same number"),
    (lambda: Batches(torch.zeros(3), torch.zeros(3)).set_epoch(-1), ValueError, "epoch must be >= 0, got -1"),
    (lambda: steps_per_epoch(100, batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
    (lambda: steps_per_epoch(-1), ValueError, r"data \(number of samples\) must be >= 0, got -1"),
    (lambda: steps_per_epoch("100"), TypeError, r"data \(number of samples\) must be an integer"),
])
def test_bad_input_names_the_parameter_and_the_value(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_numpy_scalars_are_accepted(cache):
    assert digits(seed=np.int64(0), val_fraction=np.float32(0.2), device="cpu").train[0].shape == (1079, 64)
    assert len(Batches(torch.zeros(10), torch.zeros(10), batch_size=np.int64(4), seed=np.int32(1))) == 3


def test_steps_per_epoch_is_the_one_conversion():
    X, y = torch.zeros(1079, 2), torch.zeros(1079)
    for bs in (1, 64, 100, 5000):
        expected = -(-1079 // bs)
        assert steps_per_epoch(1079, bs) == steps_per_epoch((X, y), bs) == len(Batches(X, y, batch_size=bs)) == expected
        assert steps_per_epoch(DataLoader(TensorDataset(X, y), batch_size=bs)) == expected
    assert steps_per_epoch(1079, 100, drop_last=True) == 10 == len(Batches(X, y, batch_size=100, drop_last=True))
    assert steps_per_epoch(0, 64) == 0


def test_fingerprint_tells_data_apart_cheaply():
    X, y = torch.randn(1000, 8), torch.arange(1000) % 10
    same = fingerprint((X.clone(), y.clone()))
    assert fingerprint((X, y)) == same == fingerprint(Batches(X, y, batch_size=7))
    assert fingerprint(DataLoader(TensorDataset(X, y), batch_size=5)) == same
    assert fingerprint((X[:999], y[:999])) != same  # another size
    assert fingerprint((X + 1e-3, y)) != same  # other values
    assert fingerprint((X, (y + 1) % 10)) != same  # other labels
    assert fingerprint((X.double(), y)) != same  # another dtype


def test_loader_batches_checks_moves_and_passes_set_epoch_on():
    X, y = torch.randn(10, 2), torch.arange(10)
    seen = []

    class Sampler(torch.utils.data.Sampler):
        def __iter__(self):
            return iter(range(10))

        def __len__(self):
            return 10

        def set_epoch(self, epoch):
            seen.append(epoch)

    lb = as_batches(DataLoader(TensorDataset(X, y), batch_size=4, sampler=Sampler()), device="cpu", name="train")
    assert isinstance(lb, LoaderBatches) and len(lb) == 3
    lb.set_epoch(5)
    assert seen == [5] and [len(b) for _, b in lb] == [4, 4, 2]
    with pytest.raises(TypeError, match="train yields dict batches"):
        list(LoaderBatches([{"x": X}], name="train"))
    with pytest.raises(ValueError, match="val yielded no batches"):
        list(LoaderBatches([], name="val"))


def test_batches_cover_every_sample_once_and_keep_last_partial():
    X, y = torch.arange(10.0), torch.arange(10)
    b = Batches(X, y, batch_size=4, seed=0)
    sizes = [len(yb) for _, yb in b]
    assert sizes == [4, 4, 2] and len(b) == 3
    seen = torch.cat([yb for _, yb in b])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    assert all(torch.equal(xb, yb.float()) for xb, yb in b)  # X and y stay paired
    dropped = Batches(X, y, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [len(yb) for _, yb in dropped] == [4, 4]


def test_batches_order_is_a_function_of_seed_and_epoch():
    X, y = torch.zeros(50), torch.arange(50)
    def order(b):
        return torch.cat([yb for _, yb in b]).tolist()

    a, b = Batches(X, y, seed=1), Batches(X, y, seed=1)
    a.set_epoch(2)
    b.set_epoch(2)
    assert order(a) == order(b) == order(a)
    b.set_epoch(3)
    assert order(a) != order(b)
    assert order(Batches(X, y, seed=2)) != order(Batches(X, y, seed=1))


def test_batches_does_not_touch_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    list(Batches(torch.zeros(20), torch.zeros(20), batch_size=3))
    assert torch.equal(torch.rand(1), expected)


def test_as_batches_accepts_tuple_batches_and_dataloader():
    X, y = torch.randn(10, 2), torch.arange(10)
    assert isinstance(as_batches((X, y), batch_size=5), Batches)
    b = Batches(X, y)
    assert as_batches(b) is b
    dl = DataLoader(TensorDataset(X, y), batch_size=4)
    assert as_batches(dl) is dl
    with pytest.raises(TypeError, match="ds.train"):
        as_batches(digits(device="cpu"))
    with pytest.raises(TypeError, match="list"):
        as_batches([1, 2, 3])


def test_steps_per_epoch_matches_batches():
    ds = digits(device="cpu")
    for bs in (1, 64, 100, 5000):
        assert ds.steps_per_epoch(bs) == len(Batches(*ds.train, batch_size=bs))
    assert ds.steps_per_epoch(100, drop_last=True) == len(Batches(*ds.train, batch_size=100, drop_last=True))


def _rows(t):
    return {tuple(r) for r in t.tolist()}


@pytest.mark.parametrize("make", [lambda: digits(device="cpu"), lambda: mnist1d(num_samples=300, device="cpu"),
                                  lambda: spirals(n=200, device="cpu")])
def test_train_val_test_are_disjoint(make, cache):
    ds = make()
    train, val, test = _rows(ds.train[0]), _rows(ds.val[0]), _rows(ds.test[0])
    assert train and val and test
    assert not (train & val) and not (train & test) and not (val & test)


def test_seed_offset_redraws_every_split_and_dataset(cache, monkeypatch):
    base = {"digits": digits(device="cpu"), "mnist1d": mnist1d(num_samples=300, device="cpu"),
            "spirals": spirals(n=100, device="cpu")}
    monkeypatch.setenv("LRCOURSE_SEED_OFFSET", "3")
    shifted = {"digits": digits(device="cpu"), "mnist1d": mnist1d(num_samples=300, device="cpu"),
               "spirals": spirals(n=100, device="cpu")}
    for name in base:
        assert not torch.equal(base[name].test[0], shifted[name].test[0]), name
    # offset 3 with seed 0 is the same draw as seed 3 without an offset
    monkeypatch.setenv("LRCOURSE_SEED_OFFSET", "0")
    assert torch.equal(digits(seed=3, device="cpu").test[0], shifted["digits"].test[0])


def test_batches_shuffle_follows_the_seed_offset(monkeypatch):
    def order():
        return torch.cat([yb for _, yb in Batches(torch.zeros(50), torch.arange(50), seed=1)]).tolist()

    before = order()
    monkeypatch.setenv("LRCOURSE_SEED_OFFSET", "1")
    after = order()
    monkeypatch.setenv("LRCOURSE_SEED_OFFSET", "0")
    assert before != after == torch.cat([yb for _, yb in Batches(torch.zeros(50), torch.arange(50), seed=2)]).tolist()


@pytest.mark.parametrize("call, name", [
    (lambda: digits(val_fraction=0.5, test_fraction=0.5), "val_fraction \\+ test_fraction"),
    (lambda: mnist1d(num_samples=300, test_fraction=0), "test_fraction"),
    (lambda: spirals(n=100, val_fraction=0.6, test_fraction=0.5), "val_fraction \\+ test_fraction"),
])
def test_bad_split_fractions_name_the_parameter(call, name, cache):
    with pytest.raises(ValueError, match=name):
        call()
