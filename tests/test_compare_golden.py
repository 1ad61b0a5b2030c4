"""``compare`` gives the same rows as the version these golden rows were recorded with.

The rows (every column but ``wall_time`` and the cache key ``config``, which hashes the library's
source) were recorded by ``python tests/test_compare_golden.py --record`` before the experiments
module was split into recipes / experiments / results and its cache and pool moved to joblib.
A refactor must not move a single number.

Training is exactly reproducible only on the same CPU kernels: the file records torch's version
and CPU capability; on the same pair the rows must be equal bit for bit, elsewhere every number
must agree to a tolerance far below what a behaviour change moves (a different schedule, seed or
data split changes the losses in the second decimal).
"""
import json
import math
import sys
from pathlib import Path

import torch

from lrcourse.experiments import compare
from lrcourse.schedules import Linear
from lrcourse.seeding import use_offset

GOLDEN = Path(__file__).parent / "data" / "compare_golden.json"
IGNORED = ("wall_time", "config", "schedule_repr")  # reprs grow when a schedule gains a field; numbers must not move


def half_linear(peak_lr, total_steps):
    """A user factory: linear decay from half the peak (to test factories as well as recipes)."""
    return Linear(peak_lr / 2, 0.0, total_steps)


def grids():
    """Two small grids: the built-in recipes with SGD, and a user factory with Adam."""
    with use_offset(0):
        a = compare(["constant", "step", "cosine", "onecycle", "cosine_restarts"], lrs=[0.05, 0.3], seeds=[0, 1],
                    data="digits", hidden=(16,), epochs=2, batch_size=64, target_acc=0.5, progress=False)
        b = compare({"half-linear": half_linear}, lrs=[0.01], seeds=[3], data="digits", hidden=(8, 8),
                    activation="tanh", epochs=1, batch_size=32, optimizer="adam", weight_decay=1e-4, progress=False)
    return [{k: v for k, v in r.items() if k not in IGNORED} for r in a.rows + b.rows]


def environment():
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability()}


def _close(a, b, path="row"):
    """Equal structure; numbers equal to rel 1e-4 (losses) or within 2 samples of 359 (accuracies)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path}: columns {sorted(a)} != {sorted(b)}"
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        tol = 2 / 359 if "acc" in path else 1e-4 * max(abs(a), 1e-3)
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol, f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_compare_rows_equal_the_recorded_rows():
    golden = json.loads(GOLDEN.read_text())
    golden["rows"] = [{k: v for k, v in r.items() if k not in IGNORED} for r in golden["rows"]]
    rows = json.loads(json.dumps(grids()))  # tuples -> lists, as in the file
    assert len(rows) == len(golden["rows"]) == 21
    if golden["environment"] == environment():
        assert rows == golden["rows"]  # bit for bit
    else:
        for i, (got, want) in enumerate(zip(rows, golden["rows"])):
            _close(got, want, f"rows[{i}]")


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps({"environment": environment(), "rows": grids()}, indent=1) + "\n")
    print(f"wrote {GOLDEN}")
