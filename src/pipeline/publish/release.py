"""Releases for the steering group: each one a folder of its own, built apart and switched to atomically.

Layout under `settings.releases_dir`:

    <release id>/          one release: DuckDB file, tables/ (Parquet, CSV), workbook, report, manifest.json,
                           hidden_cells.txt (the keys of its hidden cells, which later releases keep hidden)
    current -> <release id> a symbolic link, replaced in one rename: readers see the old release or the new
                           one whole, and a crash while building leaves the previous release published
    .building-<id>/        a release being built; removed when building fails, and, when a killed process left
                           it, at the next publication

The true figures behind the current release (hidden cells included) are kept apart, never published, under
`settings.data_dir / "release_figures" / <release id>`: the next release is audited jointly with them. They
are written before the switch, so the current release always has its figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError
from pipeline.service.lock import held
from pipeline.settings import Settings

MANIFEST = "manifest.json"
HIDDEN_CELLS = "hidden_cells.txt"
CURRENT = "current"
FIGURES = "release_figures"


class PublishRefused(PipelineError):
    """A release failed its disclosure audit; the previous release stays published."""


@dataclass(frozen=True)
class Release:
    id: str
    directory: Path
    manifest: dict[str, Any]

    def hidden_cells(self) -> set[str]:
        path = self.directory / HIDDEN_CELLS
        return set(path.read_text(encoding="utf-8").split()) if path.exists() else set()


def current(settings: Settings) -> Release | None:
    link = settings.releases_dir / CURRENT
    return _read(link.resolve()) if link.is_symlink() else None


def history(settings: Settings) -> list[Release]:
    """Every release kept, oldest first (ids sort by time)."""
    if not settings.releases_dir.is_dir():
        return []
    folders = sorted(p for p in settings.releases_dir.iterdir() if p.is_dir() and (p / MANIFEST).exists())
    return [_read(p) for p in folders if not p.is_symlink()]


def new_id(settings: Settings) -> str:
    """The release id: its UTC time to the second, with a suffix in the rare case that second is taken."""
    base = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    taken = {r.id for r in history(settings)}
    return next(
        candidate for n in range(len(taken) + 1) if (candidate := base if n == 0 else f"{base}-{n}") not in taken
    )


@contextmanager
def building(settings: Settings, release_id: str) -> Iterator[Path]:
    """A folder to build a release in, beside the published ones (same file system, so the switch is a rename)."""
    folder = settings.releases_dir / f".building-{release_id}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def remove_stale_builds(settings: Settings) -> list[Path]:
    """Remove the build folders that processes killed while building left behind; returns them.

    Only while this process holds the writer lock: every publication builds under it, so no live process can be
    building then, and every build folder is stale. Without the lock nothing is removed.
    """
    if not held(settings.db_path) or not settings.releases_dir.is_dir():
        return []
    stale = sorted(p for p in settings.releases_dir.glob(".building-*") if p.is_dir() and not p.is_symlink())
    for folder in stale:
        shutil.rmtree(folder)
    return stale


def switch(settings: Settings, built: Path, release_id: str, manifest: dict[str, Any]) -> Release:
    """Seal the built folder (manifest with the sha256 of every artefact, files read-only) and make it current."""
    manifest["artefacts"] = {
        str(p.relative_to(built)): {"bytes": p.stat().st_size, "sha256": sha256(p)}
        for p in sorted(built.rglob("*"))
        if p.is_file()
    }
    (built / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    for path in built.rglob("*"):
        if path.is_file():
            path.chmod(0o444)
    final = settings.releases_dir / release_id
    os.rename(built, final)
    link = settings.releases_dir / f".{CURRENT}.new"
    link.unlink(missing_ok=True)
    link.symlink_to(release_id, target_is_directory=True)
    os.replace(link, settings.releases_dir / CURRENT)
    return Release(release_id, final, manifest)


def keep_figures(settings: Settings, release_id: str, marts: dict[str, pd.DataFrame]) -> None:
    """Keep the true figures a release is built from (not published: they hold what it hides)."""
    folder = settings.data_dir / FIGURES / release_id
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, frame in marts.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)


def figures(settings: Settings, release_id: str) -> dict[str, pd.DataFrame] | None:
    """The true figures behind a release, if they were kept (releases made before they were are without)."""
    folder = settings.data_dir / FIGURES / release_id
    if not folder.is_dir():
        return None
    return {path.stem: pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}


def forget_figures(settings: Settings, keep: str) -> None:
    """Only the current release's figures are needed (the next release is audited with them)."""
    root = settings.data_dir / FIGURES
    for folder in root.iterdir() if root.is_dir() else ():
        if folder.name != keep:
            shutil.rmtree(folder, ignore_errors=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read(folder: Path) -> Release:
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return Release(manifest["release_id"], folder, manifest)
