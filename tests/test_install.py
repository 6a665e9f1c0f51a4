"""The package as others get it: a wheel that carries its SQL and codebook, installed apart from the checkout, whose
library imports neither Prefect nor the application nor the test kit."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import pipeline

PROJECT = Path(__file__).resolve().parents[1]


def test_no_module_of_the_library_imports_prefect_the_flows_or_the_test_kit() -> None:
    script = (
        "import importlib, pkgutil, sys, pipeline\n"
        "for m in pkgutil.walk_packages(pipeline.__path__, 'pipeline.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted({n.split('.')[0] for n in sys.modules if n.split('.')[0] in "
        "('prefect', 'pipeline_flows', 'pipeline_testkit')}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
    assert len(list(pkgutil.walk_packages(pipeline.__path__, "pipeline."))) > 40  # the walk saw the whole library


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(PROJECT)],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_carries_the_sql_and_the_codebook_inside_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(PROJECT).as_posix() for d in ("sql", "schemas") for p in (PROJECT / d).rglob("*.*")}
    assert {f"pipeline/{name}" for name in shipped} <= names
    assert not any(name.startswith(("flows/", "tests/")) for name in names)


def test_the_installed_wheel_runs_the_demo_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True, timeout=300)
    # The dependencies are taken from this environment's site-packages (a path entry: its .pth files, the
    # checkout's editable install among them, are not read), so the package itself comes from the wheel alone.
    (site,) = Path(venv / "lib").glob("python3*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_") and k != "PYTHONPATH"}

    where = subprocess.run(
        [python, "-c", "import pipeline.settings as s; print(s.__file__); print(s.Settings().sql_dir)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where

    demo = subprocess.run(
        [venv / "bin" / "pipeline", "demo"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "COMPLETED: 9 partners loaded" in demo.stdout
    assert (elsewhere / "data" / "demo" / "releases" / "current").exists()
