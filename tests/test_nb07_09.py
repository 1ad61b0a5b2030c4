"""The course's own longer measurements behind notebooks 07-09 (``docs/evidence``): each file says
how to reproduce it (the command, with a script that exists), on what machine and when."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["restarts", "clr", "polynomial_budget"]  # cited by notebooks 07, 08 and 09


@pytest.mark.parametrize("topic", DOCS)
def test_evidence_doc_says_how_to_reproduce_it(topic):
    text = (ROOT / "docs" / "evidence" / f"{topic}.md").read_text(encoding="utf-8")
    scripts = re.findall(r"python (benchmarks/evidence_\w+\.py)", text)
    assert scripts, f"docs/evidence/{topic}.md must give the command that reproduces it"
    assert all((ROOT / s).is_file() for s in scripts), scripts
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", text), "the date of the measurement"
    assert "torch " in text and "CPU capability" in text, "the machine and versions it ran on"
    assert "seed" in text.lower(), "the seeds (or offsets) used"
    assert "|---" in text, "the table"


@pytest.mark.parametrize("topic", DOCS)
def test_evidence_script_runs_its_command_line(topic):
    script = {"restarts": "evidence_restarts.py", "clr": "evidence_clr.py",
              "polynomial_budget": "evidence_polynomial_budget.py"}[topic]
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout and "--seeds" in out.stdout


def test_evidence_index_lists_every_evidence_file():
    index = (ROOT / "docs" / "evidence" / "README.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in (ROOT / "docs" / "evidence").glob("*.md") if p.name != "README.md")
    assert files, "docs/evidence holds the course's measurements"
    missing = [f for f in files if f"]({f})" not in index]
    assert not missing, f"docs/evidence/README.md must link {missing}"
