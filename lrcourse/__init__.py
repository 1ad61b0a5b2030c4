"""lrcourse: learning rates and learning-rate schedules, hands on.

The names a notebook needs most, re-exported from the modules that define them (data flows
one way: schedules -> torch_bridge -> training -> range_test/experiments -> plotting/widgets).
Plots, widgets, exercises and experiments are imported from their own modules.

>>> from lrcourse import CosineAnnealing
>>> CosineAnnealing(lr=0.1, total_steps=100)(50)
0.05
"""

from lrcourse.schedules import (
    SCHEDULES,
    Constant,
    CosineAnnealing,
    CosineWarmRestarts,
    Cyclic,
    ExponentialDecay,
    InverseTimeDecay,
    Join,
    Linear,
    OneCycle,
    PiecewiseConstant,
    PolynomialDecay,
    ReduceLROnPlateau,
    Schedule,
    StepDecay,
    WarmupStableDecay,
    warmup_cosine,
    warmup_linear,
)
from lrcourse.torch_bridge import ScheduleLR, get_lr, set_lr, set_momentum
from lrcourse.device import autocast, get_device, to_device
from lrcourse.data import Batches, Dataset, digits, mnist1d, spirals
from lrcourse.models import cnn1d, mlp
from lrcourse.callbacks import Callback, DivergenceGuard, EarlyStopping, LambdaSchedule, StopTraining
from lrcourse.training import History, evaluate, fit, load_checkpoint
from lrcourse.range_test import RangeTestResult, lr_range_test
from lrcourse.theory import sharpness

__version__ = "0.1.0"

__all__ = [
    "SCHEDULES", "Schedule", "Constant", "ExponentialDecay", "StepDecay", "PiecewiseConstant",
    "InverseTimeDecay", "PolynomialDecay", "Linear", "CosineAnnealing", "CosineWarmRestarts",
    "OneCycle", "Cyclic", "Join", "WarmupStableDecay", "warmup_cosine", "warmup_linear",
    "ReduceLROnPlateau", "ScheduleLR", "set_lr", "get_lr", "set_momentum",
    "get_device", "to_device", "autocast", "Batches", "Dataset", "digits", "mnist1d", "spirals",
    "mlp", "cnn1d", "Callback", "DivergenceGuard", "EarlyStopping", "LambdaSchedule", "StopTraining",
    "History", "fit", "evaluate", "load_checkpoint", "RangeTestResult", "lr_range_test", "sharpness",
]
