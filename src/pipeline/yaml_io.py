"""Reading the project's YAML files (codebook, registry) with libyaml's C loader where it is installed:
the registry is read by every partner task, and the pure-Python loader takes a quarter second for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 (a safe loader)
