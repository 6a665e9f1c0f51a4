"""The code base stays lint-clean and formatted, as the style guide asks; CI enforces it here."""

import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"


def test_ruff_finds_nothing_to_fix() -> None:
    done = subprocess.run([RUFF, "check", "."], cwd=PROJECT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_code_is_formatted() -> None:
    done = subprocess.run([RUFF, "format", "--check", "."], cwd=PROJECT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
