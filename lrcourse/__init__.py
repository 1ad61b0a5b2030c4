"""lrcourse: learning rates and learning-rate schedules, hands on.

The names a notebook needs most, re-exported from the modules that define them (data flows
one way: schedules -> torch_bridge -> training -> range_test/experiments -> plotting/widgets).
Plots, widgets, exercises and experiments are imported from their own modules.

The re-exports are lazy (PEP 562): ``import lrcourse.schedules`` loads the schedules and
nothing else, so the schedule layer works without torch; ``from lrcourse import fit`` imports
the training module (and torch) on first use.

>>> from lrcourse import CosineAnnealing
>>> CosineAnnealing(lr=0.1, total_steps=100)(50)
0.05
"""
from importlib import import_module

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    **dict.fromkeys(
        ["SCHEDULES", "Schedule", "Constant", "ExponentialDecay", "StepDecay", "PiecewiseConstant",
         "InverseTimeDecay", "PolynomialDecay", "Linear", "CosineAnnealing", "CosineWarmRestarts", "OneCycle",
         "Cyclic", "Join", "WarmupStableDecay", "InverseSqrtDecay", "Warmup", "warmup_cosine", "warmup_linear"],
        "lrcourse.schedules"),
    "ReduceLROnPlateau": "lrcourse.plateau",
    **dict.fromkeys(["ScheduleLR", "set_lr", "get_lr", "set_momentum"], "lrcourse.torch_bridge"),
    **dict.fromkeys(["get_device", "to_device", "autocast"], "lrcourse.device"),
    **dict.fromkeys(["Batches", "Dataset", "digits", "mnist1d", "spirals"], "lrcourse.data"),
    **dict.fromkeys(["mlp", "cnn1d"], "lrcourse.models"),
    **dict.fromkeys(["Callback", "DivergenceGuard", "EarlyStopping", "LambdaSchedule", "StopTraining"],
                    "lrcourse.callbacks"),
    **dict.fromkeys(["History", "fit", "evaluate", "load_checkpoint"], "lrcourse.training"),
    **dict.fromkeys(["RangeTestResult", "lr_range_test"], "lrcourse.range_test"),
    "sharpness": "lrcourse.theory",
    **dict.fromkeys(["set_seed", "course_seed", "seed_offset"], "lrcourse.seeding"),
    **dict.fromkeys(["compare_arms", "Verdict"], "lrcourse.evidence"),
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value  # next time, a plain attribute lookup
        return value
    raise AttributeError(f"module 'lrcourse' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
