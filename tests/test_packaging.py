"""Packaging stays consistent: pyproject.toml vs environment.yml, module docstrings,
torch-free schedules, and the one documented test command."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PIP = {"pytorch": "torch"}  # conda-forge names that differ from PyPI's
NOT_PACKAGES = {"python", "pip"}  # conda lines that are the toolchain, not course packages
TORCH_FREE = ["schedules.py", "plateau.py", "seeding.py", "evidence.py", "recipes.py", "results.py", "theory.py"]  # DESIGN.md: no torch import


def split_requirement(text):
    """``"keras>=3"`` -> ``("keras", ">=3")``; names lower-cased with ``_`` as ``-``."""
    text = text.split("#")[0].split(";")[0].strip()
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)", text)
    if match is None:
        raise ValueError(f"cannot parse requirement {text!r}")
    name = match.group(1).lower().replace("_", "-")
    return name, match.group(3).replace(" ", "")


def pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    extras = project.get("optional-dependencies", {})
    for extra in ("test", "lab"):
        lines += extras[extra]
    return lines


def environment_requirements():
    """Conda dependencies plus the pip list, without python, pip and the ``-e`` line."""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    lines, editable = [], []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            for pip_line in entry.get("pip", []):
                (editable if pip_line.startswith("-e") else lines).append(pip_line)
        else:
            name, spec = split_requirement(str(entry))
            if name not in NOT_PACKAGES:
                lines.append(CONDA_TO_PIP.get(name, name) + spec)
    return lines, editable


def as_dict(lines):
    out = {}
    for line in lines:
        name, spec = split_requirement(line)
        if name in out and out[name] != spec and out[name] and spec:
            raise AssertionError(f"{name} listed twice with different versions: {out[name]!r} vs {spec!r}")
        out[name] = out.get(name) or spec
    return out


def test_split_requirement_parses_the_forms_we_use():
    assert split_requirement("keras>=3") == ("keras", ">=3")
    assert split_requirement("scikit_learn") == ("scikit-learn", "")
    assert split_requirement("torch >= 2.2, <3") == ("torch", ">=2.2,<3")
    assert split_requirement("lrcourse[test]") == ("lrcourse", "")


def test_environment_yml_and_pyproject_list_the_same_packages():
    pip_side = as_dict(pyproject_requirements())
    conda_lines, _ = environment_requirements()
    conda_side = as_dict(conda_lines)
    only_pyproject = sorted(set(pip_side) - set(conda_side))
    only_environment = sorted(set(conda_side) - set(pip_side))
    assert not only_pyproject and not only_environment, (
        f"only in pyproject.toml (runtime + test + lab): {only_pyproject}; "
        f"only in environment.yml: {only_environment}"
    )
    disagree = {
        name: (pip_side[name], conda_side[name])
        for name in pip_side
        if pip_side[name] and conda_side[name] and pip_side[name] != conda_side[name]
    }
    assert not disagree, f"version specifiers differ (pyproject, environment.yml): {disagree}"


def test_environment_yml_installs_the_project_with_test_and_lab_extras():
    _, editable = environment_requirements()
    assert len(editable) == 1, editable
    extras = re.search(r"\[([^\]]*)\]", editable[0])
    assert extras is not None, editable[0]
    assert {e.strip() for e in extras.group(1).split(",")} == {"test", "lab"}


MODULES = sorted((ROOT / "lrcourse").glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_every_module_has_a_docstring(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and docstring.strip(), f"lrcourse/{path.name} has no module docstring"


@pytest.mark.parametrize("name", TORCH_FREE)
def test_schedule_modules_work_without_torch(name):
    """Import the module (and the package) in a fresh interpreter where ``import torch`` fails."""
    module = "lrcourse." + name.removesuffix(".py")
    code = ("import sys; sys.modules['torch'] = None\n"
            f"import {module}, lrcourse\n"
            "from lrcourse import CosineAnnealing, compare_arms, course_seed\n"
            "assert CosineAnnealing(1.0, 4)(2) == 0.5 and course_seed(1) == 1\n"
            "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "LRCOURSE_SEED_OFFSET": "0"})
    assert out.returncode == 0, f"{module} needs torch:\n{out.stderr[-2000:]}"


@pytest.mark.parametrize("path", [".ci/run", "README.md"])
def test_ci_and_readme_use_make_test(path):
    text = (ROOT / path).read_text()
    assert re.search(r"\bmake test\b", text), f"{path} does not mention `make test`"


def test_constraints_pin_every_dependency_but_torch():
    """``make install`` installs with constraints.txt: every course dependency has one pinned version
    there (torch is pinned by TORCH_SPEC instead, so ``TORCH_SPEC=torch`` is never downgraded)."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, spec = line.split("==")
            pins[name.lower().replace("_", "-")] = spec
    assert "torch" not in pins and not any(name.startswith("nvidia") for name in pins)
    needed = {split_requirement(r)[0] for r in pyproject_requirements()} - {"torch"}
    assert needed - set(pins) == set(), "dependencies without a pinned version in constraints.txt"
    makefile = (ROOT / "Makefile").read_text()
    assert "CONSTRAINTS ?= constraints.txt" in makefile and "$(PIP_CONSTRAINTS) -e" in makefile
