r"""Interactive explorers for the notebooks: thin ipywidgets shells over pure, tested functions.

- ``schedule_explorer()``: pick a course schedule, move its parameters, see the curve (and
  OneCycle's momentum), overlay several, read the equivalent PyTorch code.
  ``schedule_explorer(StepDecay(0.1, 10, 0.5), num_steps=60)`` starts at that schedule.
  Pure parts: ``param_specs``, ``preset_specs``, ``build_schedule``, ``torch_equivalent``, ``schedule_curves``.
- ``plateau_explorer()``: ReduceLROnPlateau's patience, factor, threshold (rel/abs), cooldown and
  min_lr over a validation-loss sequence (yours or a seeded synthetic one), drops marked, LR as a
  staircase. Pure parts: ``lrcourse.plateau.plateau_trace``, ``synthetic_val_loss``; drawn by
  ``plotting.plot_plateau``.
- ``lr_explorer()``: gradient descent on a 2-D quadratic or Rosenbrock's valley; the LR slider
  crosses the stability limit 2/L. Pure parts: ``lrcourse.theory.gd_trajectory``, ``classify``,
  ``describe_run``.
- ``training_explorer()``: train a small MLP with a schedule and a peak LR; loss and LR update
  every epoch, the previous run stays in grey. Pure part: ``lrcourse.recipes.make_run``.

ipywidgets is imported inside the widget functions, so ``import lrcourse.widgets`` works without
Jupyter. Each widget owns one ``matplotlib.figure.Figure`` (not registered with pyplot, so figures
never pile up and the inline backend does not print a stray copy at the end of the cell) and
redraws it into an ``Output`` with ``clear_output(wait=True)`` (no flicker).

>>> sched, error = build_schedule("cosine", {"lr": 0.1, "total_steps": 100})
>>> print(torch_equivalent(sched))
optimizer = torch.optim.SGD(params, lr=0.1)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=100, eta_min=0.0)  # rises again after T_max; the course schedule holds min_lr
>>> classify(gd_trajectory("quadratic", lr=0.9 * 2 / 10.0, steps=100))
'converges'
"""
from __future__ import annotations

import copy
import dataclasses
import math
import queue
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrcourse import schedules as S
from lrcourse.callbacks import Callback, StopTraining
from lrcourse.plateau import plateau_trace, synthetic_val_loss
from lrcourse.recipes import RECIPES, Run, make_run
from lrcourse.theory import FUNCTIONS, classify, describe_run, gd_trajectory, surface

# The pure parts of the plateau, LR and training explorers live in lrcourse.plateau,
# lrcourse.theory and lrcourse.recipes; they are re-exported here for the notebooks.
__all__ = ["ParamSpec", "param_specs", "build_schedule", "torch_equivalent", "schedule_curves",
           "schedule_name", "preset_specs", "schedule_explorer", "plateau_trace", "synthetic_val_loss",
           "plateau_explorer", "FUNCTIONS", "gd_trajectory", "classify", "describe_run", "lr_explorer",
           "Run", "make_run", "training_explorer"]


# ============================================================================ schedule explorer
@dataclass(frozen=True)
class ParamSpec:
    """How to show one schedule field: ``kind`` is "lr" (log slider), "float", "int",
    "optional_int" (0 means None), "bool", "choice" (``options``) or "sequence" (comma text)."""

    name: str
    kind: str
    default: Any
    min: float | None = None
    max: float | None = None
    log: bool = False
    options: tuple = ()


def _step_default(cls_name: str, name: str, num_steps: int) -> int:
    """A step count that shows the schedule's shape within ``num_steps`` steps (the field's ``share``)."""
    cls = next((c for c in S.SCHEDULES.values() if c.__name__ == cls_name), None)
    meta = S.field_metadata(cls).get(name, {}) if cls is not None else S.known_field(name)
    return max(1, int(round(meta.get("share", 0.1) * num_steps)))


def param_specs(cls: type, num_steps: int = 1000) -> list[ParamSpec]:
    """One :class:`ParamSpec` per dataclass field of schedule class ``cls``, scaled to ``num_steps``.

    Read from each field's metadata (``lrcourse.schedules.field_metadata``): its role, range, log
    scale and typical value. A field without metadata (a schedule of your own) gets a control from
    its default's type.

    >>> [(p.name, p.kind, p.default) for p in param_specs(S.CosineAnnealing, 1000)]
    [('lr', 'lr', 0.1), ('total_steps', 'int', 1000), ('min_lr', 'float', 0.0)]
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"cls must be a schedule class, got {cls!r}")
    if int(num_steps) != num_steps or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    metadata = S.field_metadata(cls)
    specs = []
    for f in dataclasses.fields(cls):
        name, meta = f.name, metadata[f.name]
        default = f.default if f.default is not dataclasses.MISSING else meta.get("typical")
        role = meta.get("role")
        if role in ("lr", "floor", "real"):
            (lo, hi), log = meta["range"], bool(meta.get("log"))
            kind = "lr" if role != "real" and log else "float"  # a log slider for LRs that cannot be 0
            if default is None:  # no default and no typical value: the middle of the range
                default = (lo * hi) ** 0.5 if log else (lo + hi) / 2
            specs.append(ParamSpec(name, kind, float(default), lo, hi, log=log))
        elif role == "count" and "options" in meta:
            specs.append(ParamSpec(name, "choice", default, options=tuple(meta["options"])))
        elif role == "count" and meta.get("optional"):
            specs.append(ParamSpec(name, "optional_int", 0 if default is None else int(default), 0, num_steps))
        elif role == "count":
            if "share" in meta:  # a part of the explorer's horizon, so the shape shows
                default = max(1, int(round(meta["share"] * num_steps)))
            specs.append(ParamSpec(name, "int", 1 if default is None else int(default), meta.get("minimum", 1), num_steps))
        elif role == "flag" or isinstance(default, bool):
            specs.append(ParamSpec(name, "bool", bool(default)))
        elif role == "choice":
            specs.append(ParamSpec(name, "choice", default, options=tuple(meta["options"])))
        elif role == "boundaries":
            specs.append(ParamSpec(name, "sequence", f"{num_steps // 2}, {3 * num_steps // 4}"))
        elif role == "values":
            specs.append(ParamSpec(name, "sequence", ", ".join(map(str, meta.get("typical") or (0.1, 0.01, 0.001)))))
        else:
            specs.append(_fallback_spec(name, default, num_steps))
    return specs


def _fallback_spec(name: str, default: Any, num_steps: int) -> ParamSpec:
    """A control for a field without metadata, from its default's type."""
    if isinstance(default, int):
        return ParamSpec(name, "int", default, min(0, default), max(num_steps, default))
    if isinstance(default, float):
        return ParamSpec(name, "float", default, min(0.0, default), max(1.0, 2 * default))
    if isinstance(default, str):
        return ParamSpec(name, "choice", default, options=(default,))
    if isinstance(default, (list, tuple)):
        return ParamSpec(name, "sequence", ", ".join(map(str, default)))
    return ParamSpec(name, "sequence", "" if default is None else str(default))


def _parse_sequence(name: str, text: Any) -> tuple:
    if not isinstance(text, str):
        return tuple(text)
    items = [x.strip() for x in text.replace(";", ",").split(",") if x.strip()]
    try:
        return tuple(int(x) if x.lstrip("-").isdigit() else float(x) for x in items)
    except ValueError:
        raise ValueError(f"{name} must be numbers separated by commas, got {text!r}") from None


def build_schedule(name: str | type, params: Mapping[str, Any]) -> tuple[Any, str | None]:
    """``(schedule, None)``, or ``(None, message)`` when the parameters do not make a schedule.

    ``name`` is a key of ``SCHEDULES`` (or a schedule class); widget values are converted
    (comma text -> tuple, ``step_size_down`` 0 -> None). The message is the constructor's.

    >>> build_schedule("wsd", {"max_lr": 0.1, "total_steps": 100, "warmup_steps": 60, "decay_steps": 50})[1]
    'WarmupStableDecay: warmup_steps + decay_steps must be <= total_steps = 100, got 60 + 50'
    """
    cls = name if isinstance(name, type) else S.SCHEDULES.get(name)
    if cls is None:
        return None, f"unknown schedule {name!r}; choose one of {', '.join(S.SCHEDULES)}"
    kwargs = dict(params)
    try:
        for key in ("boundaries", "values"):
            if key in kwargs:
                kwargs[key] = _parse_sequence(key, kwargs[key])
        if kwargs.get("step_size_down") == 0:
            kwargs["step_size_down"] = None
        return cls(**kwargs), None
    except (TypeError, ValueError) as exc:
        return None, f"{cls.__name__}: {exc}"


def _tidy(value):
    """A slider's float to 4 significant digits: sliders land on 0.30199999999999994 or 10**1.4."""
    return float(f"{value:.4g}") if isinstance(value, float) else value


def torch_equivalent(schedule) -> str:
    """The PyTorch code giving the same LR per update (``scheduler.step()`` after every update).

    Torch knowledge lives in ``lrcourse.torch_bridge`` (``torch_equivalent`` and its per-class
    table ``TORCH_CODE``); this name stays for the explorer and old imports.

    >>> print(torch_equivalent(S.StepDecay(0.1, 30, 0.5)))
    optimizer = torch.optim.SGD(params, lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.5)
    """
    from lrcourse.torch_bridge import torch_equivalent as code

    return code(schedule)


def _label(schedule) -> str:
    """Class name with the fields that differ from their defaults: a short legend entry."""
    if not dataclasses.is_dataclass(schedule):
        return repr(schedule)
    parts = []
    for f in dataclasses.fields(schedule):
        value = getattr(schedule, f.name)
        if f.default is dataclasses.MISSING or value != f.default:
            parts.append(f"{f.name}={value:.3g}" if isinstance(value, float) else f"{f.name}={value}")
    return f"{type(schedule).__name__}({', '.join(parts)})"


def schedule_curves(schedules: Sequence, num_steps: int) -> list[dict]:
    """For each schedule: ``{"label", "step", "lr", "momentum"}`` over steps ``0 .. num_steps-1``.

    ``momentum`` is None unless the schedule cycles momentum (OneCycle).

    >>> c = schedule_curves([S.Linear(1.0, 0.0, 4)], 5)[0]
    >>> c["label"], c["lr"].tolist(), c["momentum"]
    ('Linear(start_lr=1, end_lr=0, total_steps=4)', [1.0, 0.75, 0.5, 0.25, 0.0], None)
    """
    out = []
    for s in schedules:
        steps = np.arange(num_steps)
        lr = s.curve(num_steps) if hasattr(s, "curve") else np.array([s(int(t)) for t in steps])
        mom = s.momentum_curve(num_steps) if hasattr(s, "momentum_curve") else None
        out.append({"label": _label(s), "step": steps, "lr": lr, "momentum": mom})
    return out


def schedule_name(schedule) -> str:
    """The ``SCHEDULES`` key of a course schedule instance (or class).

    >>> schedule_name(S.StepDecay(0.1, 10, 0.5))
    'step'
    """
    cls = schedule if isinstance(schedule, type) else type(schedule)
    for key, value in S.SCHEDULES.items():
        if value is cls:
            return key
    raise ValueError(f"schedule must be an instance of a class in SCHEDULES ({', '.join(S.SCHEDULES)}), "
                     f"got {schedule!r}")


def preset_specs(specs: Sequence[ParamSpec], values: Mapping[str, Any]) -> list[ParamSpec]:
    """``specs`` with ``values`` as their defaults, each range widened so that it holds its value.

    Fields not in ``values`` keep their defaults; widget conventions are applied (``None`` ->
    0 for ``step_size_down``, a tuple -> comma text). An LR field at 0 (``Linear(0.0, ...)``) cannot
    sit on a log slider: it becomes a linear slider from 0.

    >>> [(p.default, p.min, p.max) for p in preset_specs(param_specs(S.StepDecay, 60), {"step_size": 80})][1]
    (80, 1, 80)
    """
    unknown = sorted(set(values) - {p.name for p in specs})
    if unknown:
        raise ValueError(f"values must name fields of the schedule ({', '.join(p.name for p in specs)}), got {unknown}")
    out = []
    for p in specs:
        if p.name not in values:
            out.append(p)
            continue
        v = values[p.name]
        if p.kind == "sequence":
            out.append(dataclasses.replace(p, default=v if isinstance(v, str) else ", ".join(map(str, v))))
        elif p.kind == "bool":
            out.append(dataclasses.replace(p, default=bool(v)))
        elif p.kind == "choice":
            options = p.options if v in p.options else p.options + (v,)
            out.append(dataclasses.replace(p, default=v, options=options))
        elif p.kind in ("int", "optional_int"):
            v = 0 if v is None else int(v)
            out.append(dataclasses.replace(p, default=v, min=min(p.min, v), max=max(p.max, v)))
        elif p.kind == "lr" and float(v) <= 0:
            out.append(dataclasses.replace(p, kind="float", log=False, default=float(v), min=min(0.0, float(v)),
                                           max=1.0))
        else:
            v = float(v)
            out.append(dataclasses.replace(p, default=v, min=min(p.min, v), max=max(p.max, v)))
    return out


def slider_grid(lo: float, hi: float, anchor: float, num: int = 200) -> tuple[float, float]:
    """A slider's lower end and step such that ``anchor`` (the default) lies on its grid.

    The browser snaps a slider's value to ``min + k * step``; a default off that grid would
    silently become another schedule (0.3 shown as 0.302). The step is a power of ten giving
    at least ``num`` positions; the lower end moves up by less than one step.

    >>> [round(x, 6) for x in slider_grid(0.01, 0.99, 0.3)]
    [0.01, 0.001]
    """
    step = 10.0 ** math.floor(math.log10((hi - lo) / num))
    return anchor - math.floor((anchor - lo) / step + 1e-9) * step, step


def _control(spec: ParamSpec, widgets):
    """The ipywidget for one ParamSpec."""
    common = dict(description=spec.name, style={"description_width": "130px"},
                  layout=widgets.Layout(width="440px"))
    if spec.kind == "lr" or (spec.kind == "float" and spec.log):
        lo, step = slider_grid(math.log10(spec.min), math.log10(spec.max), math.log10(spec.default), num=100)
        return widgets.FloatLogSlider(value=spec.default, base=10, min=lo, max=math.log10(spec.max),
                                      step=step, readout_format=".3g", **common)
    if spec.kind == "float":
        lo, step = slider_grid(spec.min, spec.max, spec.default)
        return widgets.FloatSlider(value=spec.default, min=lo, max=spec.max, step=step,
                                   readout_format=".3g", **common)
    if spec.kind in ("int", "optional_int"):
        return widgets.IntSlider(value=spec.default, min=spec.min, max=spec.max, **common)
    if spec.kind == "bool":
        return widgets.Checkbox(value=spec.default, **common)
    if spec.kind == "choice":
        return widgets.Dropdown(options=list(spec.options), value=spec.default, **common)
    return widgets.Text(value=str(spec.default), continuous_update=False, **common)


def _new_figure(width: float = 7.0):
    # Not pyplot-managed: never shown twice, never counted by plt.get_fignums(). Importing pyplot
    # first lets the inline backend register its PNG formatter for figures.
    import matplotlib.pyplot  # noqa: F401
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, 3.4), layout="constrained")
    return fig


def _show(fig, out) -> None:
    from IPython.display import display
    with out:
        out.clear_output(wait=True)
        display(fig)


def schedule_explorer(schedules: Sequence[str] | Any = None, num_steps: int = 1000, *, schedule: Any = None,
                      name: str | None = None, params: Mapping[str, Any] | None = None):
    """Dropdown of course schedules, a slider per parameter, live curve, overlays, torch code.

    ``schedules``: names from ``SCHEDULES`` to offer (default: all). Start at a given schedule with
    ``schedule=StepDecay(0.1, 10, 0.5)`` (or that instance as the first argument) or with ``name="step",
    params={"lr": 0.1, "step_size": 10}`` (fields left out keep their defaults): the dropdown shows its
    class and the sliders its values, their ranges widened where needed; the name is added to
    ``schedules`` if missing. Returns the widget box; ``box.controls`` maps names to the current
    controls and ``box.schedule()`` returns the schedule shown (for tests and scripted demos).
    """
    import ipywidgets as widgets

    if dataclasses.is_dataclass(schedules) and not isinstance(schedules, type):
        if schedule is not None:
            raise ValueError(f"schedule given twice: {schedules!r} as the first argument and schedule={schedule!r}")
        schedules, schedule = None, schedules  # schedule_explorer(StepDecay(0.1, 10, 0.5), num_steps=60)
    if schedule is not None and (name is not None or params is not None):
        raise ValueError(f"give schedule= or name= (with params=), not both; got schedule={schedule!r}, name={name!r}")
    if params is not None and name is None:
        raise ValueError(f"params needs name= (a key of SCHEDULES), got params={dict(params)!r} and name=None")
    names = list(schedules or S.SCHEDULES)
    unknown = [n for n in names if n not in S.SCHEDULES]
    if unknown:
        raise ValueError(f"schedules must be names from SCHEDULES ({', '.join(S.SCHEDULES)}), got {unknown}")
    preset = None  # (name, field values) to start from
    if schedule is not None:
        preset = (schedule_name(schedule), {f.name: getattr(schedule, f.name) for f in dataclasses.fields(schedule)})
    elif name is not None:
        if name not in S.SCHEDULES:
            raise ValueError(f"name must be one of {', '.join(S.SCHEDULES)}, got {name!r}")
        preset = (name, dict(params or {}))
        preset_specs(param_specs(S.SCHEDULES[name], num_steps), preset[1])  # unknown field names: fail now
    if preset is not None and preset[0] not in names:
        names.append(preset[0])
    first = preset[0] if preset is not None else names[0]
    choose = widgets.Dropdown(options=names, value=first, description="schedule")
    add = widgets.Button(description="Add to overlay", icon="plus")
    clear = widgets.Button(description="Clear overlay")
    params_box = widgets.VBox()
    code = widgets.HTML()
    out = widgets.Output()
    fig = _new_figure()
    overlay: list = []
    box = widgets.VBox([widgets.HBox([choose, add, clear]), params_box, code, out])
    box.controls = {"schedule": choose, "add": add, "clear": clear}
    box.figure = fig
    state = {"current": None}

    def redraw(_=None):
        params = {k: _tidy(c.value) for k, c in box.controls.items() if k not in ("schedule", "add", "clear")}
        sched, error = build_schedule(choose.value, params)
        state["current"] = sched
        if error:
            code.value = f"<span style='color:#b00'>⚠ {error}</span>"
            return
        code.value = "<pre style='font-size:85%; white-space:pre-wrap'>" + torch_equivalent(sched) + "</pre>"
        fig.clear()
        ax = fig.add_subplot()
        curves = schedule_curves(overlay + [sched], num_steps)
        for i, c in enumerate(curves):
            last = i == len(curves) - 1
            ax.plot(c["step"], c["lr"], lw=2 if last else 1.2, label=c["label"],
                    color=None if last or len(curves) < 2 else f"C{i + 1}", zorder=3 if last else 2)
        ax.set(xlabel="step", ylabel="learning rate")
        # below the axes: inside, it hides the peak of whichever curve is drawn last
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.16), frameon=False)
        if curves[-1]["momentum"] is not None:
            ax2 = ax.twinx()
            ax2.plot(curves[-1]["step"], curves[-1]["momentum"], color="grey", ls="--", lw=1)
            ax2.set_ylabel("momentum (dashed)")
        _show(fig, out)

    def rebuild(_=None, values=None):
        specs = param_specs(S.SCHEDULES[choose.value], num_steps)
        if values:
            specs = preset_specs(specs, values)
        controls = {s.name: _control(s, widgets) for s in specs}
        for c in controls.values():
            c.observe(redraw, names="value")
        for k in [k for k in box.controls if k not in ("schedule", "add", "clear")]:
            del box.controls[k]
        box.controls.update(controls)
        params_box.children = list(controls.values())
        redraw()

    def add_overlay(_=None):
        if state["current"] is not None and state["current"] not in overlay:
            overlay.append(state["current"])
        redraw()

    def clear_overlay(_=None):
        overlay.clear()
        redraw()

    choose.observe(rebuild, names="value")
    add.on_click(add_overlay)
    clear.on_click(clear_overlay)
    box.schedule = lambda: state["current"]
    rebuild(values=preset[1] if preset is not None else None)
    return box


# ============================================================================ plateau explorer
def plateau_explorer(metrics: Sequence[float] | None = None, *, lr: float = 0.1, mode: str = "min",
                     num_epochs: int = 40, seed: int = 0):
    """Sliders for ``ReduceLROnPlateau``'s patience, factor, threshold (rel/abs), cooldown, min_lr.

    Draws ``metrics`` (default: :func:`synthetic_val_loss`, with noise and seed controls) with the
    LR drops marked and the LR as a staircase (:func:`lrcourse.plotting.plot_plateau`), and prints
    the drop epochs and the call. ``lr`` is the start LR, ``mode`` "min" for a loss, "max" for an
    accuracy. Returns the widget box; ``box.controls`` maps names to controls, ``box.trace()``
    returns the current ``(metrics, lrs, drop_epochs)``.
    """
    import ipywidgets as widgets

    from lrcourse.plotting import plot_plateau

    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if metrics is not None:
        given = np.asarray(metrics, dtype=float)
        if given.ndim != 1 or len(given) == 0:
            raise ValueError(f"metrics must be a non-empty 1-D sequence of numbers, got shape {given.shape}")
    common = dict(style={"description_width": "110px"}, layout=widgets.Layout(width="420px"))
    controls = {
        "patience": widgets.IntSlider(value=2, min=0, max=15, description="patience", **common),
        "factor": widgets.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05, description="factor", **common),
        "threshold": widgets.FloatLogSlider(value=1e-4, base=10, min=-5, max=-0.5, step=0.1,
                                            readout_format=".1e", description="threshold", **common),
        "threshold_mode": widgets.ToggleButtons(options=["rel", "abs"], value="rel", description="threshold_mode",
                                                style={"description_width": "110px", "button_width": "60px"}),
        "cooldown": widgets.IntSlider(value=0, min=0, max=10, description="cooldown", **common),
        "min_lr": widgets.FloatSlider(value=0.0, min=0.0, max=lr / 2, step=lr / 200, readout_format=".3g",
                                      description="min_lr", **common),
    }
    if metrics is None:
        controls["noise"] = widgets.FloatSlider(value=0.02, min=0.0, max=0.1, step=0.005, readout_format=".3f",
                                                description="noise (σ)", **common)
        controls["seed"] = widgets.IntText(value=seed, description="seed", **common)
    readout = widgets.HTML()
    out = widgets.Output()
    fig = _new_figure(width=7.5)
    box = widgets.VBox([widgets.VBox(list(controls.values())), readout, out])
    box.controls = controls
    box.figure = fig
    state: dict = {}

    def redraw(_=None):
        values = (given if metrics is not None else
                  synthetic_val_loss(num_epochs, controls["noise"].value, int(controls["seed"].value)))
        params = {k: c.value for k, c in controls.items() if k not in ("noise", "seed")}
        try:
            lrs, drops = plateau_trace(values, lr=lr, mode=mode, **params)
        except (TypeError, ValueError) as exc:
            readout.value = f"<span style='color:#b00'>⚠ {exc}</span>"
            return
        state["trace"] = (values, lrs, drops)
        args = ", ".join(f"{k}={v!r}" if not isinstance(v, float) else f"{k}={v:.3g}" for k, v in params.items())
        mode_arg = "" if mode == "min" else f"mode={mode!r}, "
        readout.value = (f"{len(drops)} drop(s), after epochs <b>{drops}</b> &nbsp;·&nbsp; "
                         f"<code>ReduceLROnPlateau({lr:g}, {mode_arg}{args})</code>")
        fig.clear()
        ax = fig.add_subplot()
        plot_plateau(values, lrs, ax=ax, drops=drops, lr_log=True)
        ax.set_ylabel("val loss" if mode == "min" else "metric")
        _show(fig, out)

    for c in controls.values():
        c.observe(redraw, names="value")
    box.trace = lambda: state.get("trace")
    redraw()
    return box


# ============================================================================ LR explorer (2-D GD)
def lr_explorer(fn_name: str = "quadratic", steps: int | None = None):
    """GD on a 2-D quadratic (or Rosenbrock) with an LR slider; the trajectory on contour lines.

    The slider spans 0.01 to 1.5 × 2/L; the title says where the LR is relative to 2/L and
    whether the run converges, oscillates or diverges.
    """
    import ipywidgets as widgets

    choose = widgets.Dropdown(options=list(FUNCTIONS), value=fn_name, description="function")
    limit = 2.0 / FUNCTIONS[fn_name]["L"]
    lr = widgets.FloatLogSlider(value=0.9 * limit, base=10, min=math.log10(0.01 * limit),
                                max=math.log10(1.5 * limit), step=0.01, readout_format=".3g", description="lr")
    n = widgets.IntSlider(value=steps or FUNCTIONS[fn_name]["steps"], min=2, max=2000, description="steps")
    readout = widgets.HTML()
    out = widgets.Output()
    fig = _new_figure(width=6.0)
    box = widgets.VBox([widgets.HBox([choose, n]), lr, readout, out])
    box.controls = {"function": choose, "lr": lr, "steps": n}
    box.figure = fig

    def redraw(_=None):
        name = choose.value
        traj = gd_trajectory(name, lr.value, n.value)
        text = describe_run(name, lr.value, traj)
        readout.value = f"<b>{text}</b>"
        (x0, x1), (y0, y1) = FUNCTIONS[name]["window"]
        X, Y = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
        Z = surface(name, X, Y)
        fig.clear()
        ax = fig.add_subplot()
        levels = np.geomspace(max(Z.min(), 1e-3), Z.max(), 15)
        ax.contour(X, Y, Z, levels=levels, colors="0.7", linewidths=0.8)
        ok = traj[np.isfinite(traj).all(axis=1)]
        ax.plot(ok[:, 0], ok[:, 1], "o-" if len(ok) <= 100 else "-", ms=3, lw=1, color="C3")
        ax.plot(*FUNCTIONS[name]["minimum"], "k*", ms=10)
        ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y")
        ax.set_title(text, fontsize=9)
        _show(fig, out)

    def new_function(_=None):
        lim = 2.0 / FUNCTIONS[choose.value]["L"]
        with lr.hold_trait_notifications():
            lr.min, lr.max = math.log10(0.01 * lim), math.log10(1.5 * lim)
            lr.value = 0.9 * lim
            n.value = FUNCTIONS[choose.value]["steps"]
        redraw()

    choose.observe(new_function, names="value")
    lr.observe(redraw, names="value")
    n.observe(redraw, names="value")
    redraw()
    return box


# ============================================================================ training explorer
def training_explorer(data: str = "digits", hidden: Sequence[int] = (64,), batch_size: int = 64):
    """Pick a schedule and a peak LR, press Train: an MLP trains with SGD + momentum 0.9 and the
    loss and LR curves update every epoch; the previous run stays in grey for comparison.

    Callbacks record, the widget draws: ``fit`` runs in a worker thread with an
    :class:`_EpochFeed` callback that only hands a copy of the history to this thread at the end
    of each epoch; the click handler draws each copy as it arrives (never from inside ``fit``).
    """
    import ipywidgets as widgets

    from lrcourse.experiments import load_data

    ds = load_data(data, device=None)
    choose = widgets.Dropdown(options=list(RECIPES), value="cosine", description="schedule")
    peak = widgets.FloatLogSlider(value=0.1, base=10, min=-3, max=0.5, step=0.05, readout_format=".3g",
                                  description="peak lr")
    epochs = widgets.IntSlider(value=10, min=1, max=30, description="epochs")
    train = widgets.Button(description="Train", icon="play", button_style="primary")
    status = widgets.HTML()
    out = widgets.Output()
    fig = _new_figure(width=8.0)
    box = widgets.VBox([widgets.HBox([choose, peak]), widgets.HBox([epochs, train]), status, out])
    box.controls = {"schedule": choose, "peak_lr": peak, "epochs": epochs, "train": train}
    box.figure = fig
    box.runs = []  # (Run, History) of finished runs; the last one is drawn in grey

    def draw(run, history):
        fig.clear()
        ax_loss, ax_lr = fig.subplots(1, 2)
        previous = box.runs[-1] if box.runs else None
        if previous is not None:
            prun, ph = previous
            ax_loss.plot(ph.loss, color="0.75", lw=0.8, label=f"previous: {prun.schedule_name} {prun.peak_lr:.3g}")
            ax_lr.plot(ph.lr, color="0.75", lw=1.2)
        ax_loss.plot(history.loss, color="C0", lw=0.8, label=f"{run.schedule_name} {run.peak_lr:.3g} (batch)")
        if history.val_loss:
            ax_loss.plot(history.epoch_steps, history.val_loss, "o-", color="C1", ms=3, label="validation")
        ax_loss.set(xlabel="step", ylabel="loss", yscale="log", xlim=(0, run.total_steps))
        ax_loss.legend(fontsize=7)
        ax_lr.plot(run.schedule.curve(run.total_steps), color="C0", lw=0.8, ls=":")
        ax_lr.plot(history.lr, color="C0", lw=1.5)
        ax_lr.set(xlabel="step", ylabel="learning rate", xlim=(0, run.total_steps))
        _show(fig, out)

    def on_train(_=None):
        run = make_run(choose.value, peak.value, epochs.value, ds, batch_size=batch_size)
        train.disabled = True
        try:
            for history in _train_in_background(run, ds, hidden):  # the last one is the History fit returned
                acc = f", val acc {history.val_acc[-1]:.3f}" if history.val_acc else ""
                status.value = f"epoch {len(history.epoch_steps)}/{run.epochs}{acc}"
                draw(run, history)
        except Exception as exc:  # noqa: BLE001 - a click handler: show it, a traceback would vanish in the log
            status.value = f"<span style='color:#b00'>⚠ {type(exc).__name__}: {exc}</span>"
            return
        finally:
            train.disabled = False
        if history.diverged:
            status.value += f" — <b>diverged</b> at step {history.diverged_at}: try a lower peak LR"
        box.runs.append((run, history))

    train.on_click(on_train)
    status.value = f"{ds!r}: press Train"
    return box


def _train_in_background(run: Run, ds, hidden: Sequence[int]):
    """Train ``run`` in a worker thread; yield a copy of the history after each epoch, then the
    History ``fit`` returned. ``fit`` and its callbacks only record;
    the caller draws. Leaving the loop early (an error, a kernel interrupt) stops the training
    at its next update.
    """
    import torch

    from lrcourse.models import mlp
    from lrcourse.training import fit

    feed: queue.Queue = queue.Queue()
    stop = threading.Event()
    model = mlp(ds.num_features, hidden=tuple(hidden), out_features=ds.num_classes, seed=0)

    def work():
        try:
            history = fit(model, ds.train, ds.val, epochs=run.epochs, batch_size=run.batch_size,
                          optimizer=lambda p: torch.optim.SGD(p, lr=run.peak_lr, momentum=0.9),
                          schedule=run.schedule, progress=False, seed=0, callbacks=[_EpochFeed(feed, stop)])
            feed.put(("done", history))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
            feed.put(("error", exc))

    worker = threading.Thread(target=work, name="training_explorer", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = feed.get()
            if kind == "error":
                raise item
            yield item
            if kind == "done":
                return
    finally:
        stop.set()
        worker.join()


class _EpochFeed(Callback):
    """Records only: at each epoch end a copy of the history goes to ``feed``; stops once ``stop`` is set."""

    order = 100  # after the built-in callbacks have recorded the epoch

    def __init__(self, feed: queue.Queue, stop: threading.Event):
        self.feed, self.stop = feed, stop

    def after_batch(self, trainer):
        if self.stop.is_set():
            raise StopTraining("the explorer stopped this run")

    def after_epoch(self, trainer):
        self.feed.put(("epoch", copy.deepcopy(trainer.history)))

# ============================================================================ range-test explorer
def range_test_explorer(data: str = "digits", hidden: Sequence[int] = (128, 128), *, batch_size: int = 64,
                        momentum: float = 0.9, seed: int = 0):
    """Run an LR range test and move its settings: smoothing β, number of steps, sweep range, momentum.

    An MLP (``hidden``, seed ``seed``) on ``data`` with SGD; every change of ``num_steps``,
    ``start_lr``, ``end_lr`` or ``momentum`` runs the test again (100 steps take a fraction of a
    second); a change of ``smooth`` (β) only re-reads the recorded losses with
    ``range_test.resmooth``, which is exactly what a new test with that β would return (the
    training does not depend on β). The test is recorded with ``diverge_factor=None`` and then cut
    where fastai's rule (4x the running minimum) stops it. Drawn by
    ``plotting.plot_range_test_full``: raw and smoothed loss, both minima (the lag of the moving
    average) and every rule's suggestion. Returns the widget box; ``box.controls`` maps names to
    controls, ``box.result`` is the ``RangeTestResult`` shown, ``box.figure`` the figure.
    """
    import ipywidgets as widgets
    import torch

    from lrcourse import _checks
    from lrcourse import data as D
    from lrcourse.models import mlp
    from lrcourse.plotting import plot_range_test_full
    from lrcourse.range_test import loss_minima, lr_range_test, resmooth

    _checks.choice("data", data, ("digits", "mnist1d"))
    ds = D.digits() if data == "digits" else D.mnist1d()
    style = {"description_width": "90px"}
    common = dict(continuous_update=False, style=style, layout=widgets.Layout(width="360px"))
    smooth = widgets.FloatSlider(value=0.98, min=0.0, max=0.995, step=0.005, readout_format=".3f",
                                 description="smooth β", **common)
    num_steps = widgets.IntSlider(value=100, min=20, max=400, step=10, description="num_steps", **common)
    start_lr = widgets.FloatLogSlider(value=1e-7, base=10, min=-8, max=-2, step=0.5, readout_format=".0e",
                                      description="start_lr", **common)
    end_lr = widgets.FloatLogSlider(value=10.0, base=10, min=-1, max=2, step=0.25, readout_format=".3g",
                                    description="end_lr", **common)
    mom = widgets.FloatSlider(value=float(momentum), min=0.0, max=0.99, step=0.01, readout_format=".2f",
                              description="momentum", **common)
    status = widgets.HTML()
    out = widgets.Output()
    fig = _new_figure(width=9.0)
    fig.set_size_inches(9.0, 4.0)
    box = widgets.VBox([widgets.HBox([widgets.VBox([smooth, num_steps, mom]), widgets.VBox([start_lr, end_lr])]),
                        status, out])
    box.controls = {"smooth": smooth, "num_steps": num_steps, "start_lr": start_lr, "end_lr": end_lr,
                    "momentum": mom}
    box.figure = fig
    state = {"recorded": None}

    def record():
        model = mlp(ds.num_features, hidden=tuple(hidden), out_features=ds.num_classes, seed=seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=mom.value)
        state["recorded"] = lr_range_test(model, ds.train, optimizer=optimizer, batch_size=batch_size,
                                          start_lr=start_lr.value, end_lr=end_lr.value, num_steps=num_steps.value,
                                          smooth=smooth.value, diverge_factor=None, progress=False, seed=seed)

    def redraw(change=None):
        try:
            if state["recorded"] is None or (change is not None and change["owner"] is not smooth):
                if start_lr.value >= end_lr.value:
                    status.value = "<span style='color:#b00'>⚠ start_lr must be smaller than end_lr</span>"
                    return
                record()
            result = resmooth(state["recorded"], smooth.value)
            box.result = result
            fig.clear()
            ax = fig.add_subplot()
            plot_range_test_full(result, ax=ax)
            minima = loss_minima(result)
            text = ", ".join(f"{rule} {lr:.3g}" for rule, lr in result.suggestions().items())
            status.value = (f"stopped: {result.stop_reason} after {len(result.lrs)}/{result.num_steps} steps · "
                            f"lowest raw loss at {minima['raw']:.3g}, lowest smoothed at {minima['smoothed']:.3g} "
                            f"(lag ×{minima['smoothed'] / minima['raw']:.2g}) · suggestions: {text}")
        except Exception as exc:  # noqa: BLE001 - a slider callback: show it, a traceback would vanish in the log
            status.value = f"<span style='color:#b00'>⚠ {type(exc).__name__}: {exc}</span>"
            return
        _show(fig, out)

    for control in box.controls.values():
        control.observe(redraw, names="value")
    redraw()
    return box


# ============================================================================ group LR explorer
def group_lr_explorer(lr: float = 1e-3, *, layers: int = 3, rule: str = "LLRD", decay: float = 0.5,
                      spread: float = 100.0, total_steps: int = 200, warmup_fraction: float = 0.1):
    """Per-layer LRs of a fine-tuning run: the rule (LLRD, fastai's discriminative slice, one LR,
    head only), the head's peak ``lr``, ``decay`` / ``spread``, the number of layers and the warmup.

    Left: each group's LR over a warmup + linear-decay run (log scale; a frozen group, at LR 0, is
    not drawn); right: each layer's peak LR. Pure part: ``lrcourse.finetune.group_lr_curves``.
    Returns the widget box; ``box.controls`` maps names to controls, ``box.figure`` is the figure,
    ``box.lrs`` the peak LR per group shown (head first).
    """
    import ipywidgets as widgets

    from lrcourse.finetune import group_lr_curves

    style = {"description_width": "110px"}
    common = dict(continuous_update=False, style=style, layout=widgets.Layout(width="360px"))
    controls = {
        "rule": widgets.Dropdown(options=["LLRD", "discriminative", "one LR", "head only"], value=rule,
                                 description="rule", style=style),
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-5, max=0, step=0.25, readout_format=".1e",
                                     description="lr (head)", **common),
        "decay": widgets.FloatSlider(value=decay, min=0.05, max=1.0, step=0.05, readout_format=".2f",
                                     description="decay (LLRD)", **common),
        "spread": widgets.FloatLogSlider(value=spread, base=10, min=0, max=4, step=0.25, readout_format=".3g",
                                         description="spread hi/lo", **common),
        "layers": widgets.IntSlider(value=layers, min=1, max=12, description="layers", **common),
        "warmup_fraction": widgets.FloatSlider(value=warmup_fraction, min=0.0, max=0.5, step=0.05,
                                               readout_format=".2f", description="warmup fraction", **common),
    }
    status = widgets.HTML()
    out = widgets.Output()
    fig = _new_figure(width=10.0)
    fig.set_size_inches(10.0, 3.6)
    box = widgets.VBox([widgets.HBox([widgets.VBox([controls["rule"], controls["lr"], controls["decay"]]),
                                      widgets.VBox([controls["spread"], controls["layers"],
                                                    controls["warmup_fraction"]])]), status, out])
    box.controls, box.figure = controls, fig

    def redraw(change=None):
        try:
            names, lrs, curves = group_lr_curves(controls["lr"].value, layers=controls["layers"].value,
                                                 rule=controls["rule"].value, decay=controls["decay"].value,
                                                 spread=controls["spread"].value, total_steps=total_steps,
                                                 warmup_fraction=controls["warmup_fraction"].value)
        except Exception as exc:  # noqa: BLE001 - a slider callback: show it, a traceback would vanish in the log
            status.value = f"<span style='color:#b00'>⚠ {type(exc).__name__}: {exc}</span>"
            return
        box.lrs = lrs
        fig.clear()
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        for k, name in enumerate(names):
            if lrs[k] > 0:
                left.plot(np.arange(total_steps), curves[:, k], label=f"{name}: peak {lrs[k]:.2g}")
        left.set(yscale="log", xlabel="step", ylabel="LR applied", title="warmup + linear decay, per group")
        left.legend(fontsize="x-small", ncol=2 if len(names) > 6 else 1)
        left.grid(alpha=0.3)
        right.bar(range(len(names)), lrs[::-1], color=["C0"] * (len(names) - 1) + ["C3"])
        right.set_xticks(range(len(names)), [n.replace("layer ", "") for n in names[::-1]], fontsize="small")
        right.set(xlabel="layer (input → head)", ylabel="peak LR", title="peak LR per layer")
        right.grid(alpha=0.3, axis="y")
        ratio = lrs[-1] / lrs[0] if lrs[0] else float("nan")
        status.value = (f"{len(names)} groups · head {lrs[0]:.3g} · first layer {lrs[-1]:.3g} "
                        f"(×{ratio:.3g} the head's)")
        _show(fig, out)

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return box


__all__ += ["group_lr_explorer"]
