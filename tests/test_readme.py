"""The README's quick start runs as written (its own assertion checks the applied LR)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_runs_as_written(monkeypatch):
    section = README.read_text(encoding="utf-8").split("## Quick start", 1)[1]
    quick_start = re.findall(r"```python\n(.*?)```", section, re.S)[0]  # the section's first block
    assert "fit(" in quick_start and "assert history.lr ==" in quick_start
    monkeypatch.setenv("LRCOURSE_DEVICE", "cpu")
    namespace = {}
    exec(compile(quick_start, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["history"].val_acc[-1] > 0.9
