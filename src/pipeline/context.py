"""What a run works with, built once where it starts (the CLI, a flow, the server, a test) and passed in.

The library never reads the environment for its settings nor loads the codebook and registry on its own: a
flow run sees one registry from start to end, a test hands in the settings it made, and each step opens the
working file through the same factory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import duckdb

from pipeline import db
from pipeline.contract.codebook import Codebook, load_codebook
from pipeline.registry import Registry, load_registry
from pipeline.settings import Settings

if TYPE_CHECKING:
    import pandera.pandas as pa


@dataclass(frozen=True, eq=False)
class Context:
    settings: Settings

    @classmethod
    def from_environment(cls) -> Context:
        """The settings as the PIPELINE_* variables give them: what the CLI, the flows and the server start from."""
        return cls(Settings())

    @cached_property
    def codebook(self) -> Codebook:
        return load_codebook(self.settings.codebook_file)

    @cached_property
    def registry(self) -> Registry:
        """Partners' secrets are checked when a connector opens, not here: listing or replaying needs none."""
        return load_registry(self.settings.partners_file, self.codebook, check_secrets=False)

    @cached_property
    def batch_schema(self) -> pa.DataFrameSchema:
        """The pandera schema of a batch (pipeline.contract.validation), derived once: every partner's ingest
        validates with it, and deriving it costs more than validating a small batch."""
        from pipeline.contract import validation  # pandas and pandera only where a batch is validated

        return validation.schema(self.codebook)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """The working file, its schema brought up to date; the caller closes it."""
        return db.connect(self.settings.db_path, self.settings.sql_dir, self.settings.duckdb_memory_limit)
