"""Rebuild staging, core and the marts from raw alone: the proof that raw keeps everything needed."""

from __future__ import annotations

import uuid

from pipeline import db
from pipeline.context import Context
from pipeline.errors import ConfigError
from pipeline.load.loader import reload_partner
from pipeline.transform.marts import build_marts


def rebuild(ctx: Context) -> dict[str, tuple[int, int, int]]:
    """Empty staging, core and the quarantine, then load every stored version again in the order it was fetched,
    with today's codebook and registry; the result equals the incremental state. Returns per partner
    (quarantined, inserted, updated)."""
    settings, registry = ctx.settings, ctx.registry
    con = ctx.connect()
    try:
        stored = {pid for (pid,) in con.execute("select distinct partner_id from raw.records").fetchall()}
        unknown = stored - {p.id for p in registry.partners}
        if unknown:
            raise ConfigError(
                f"raw holds responses of partners not in the registry ({', '.join(sorted(unknown))}): "
                "a rebuild would drop them; add them back to the registry first"
            )
        con.begin()
        db.run(con, settings.sql_dir, "ops/empty_derived")
        con.commit()
        run_id = f"rebuild-{uuid.uuid4().hex[:12]}"
        results = {partner.id: reload_partner(con, ctx, partner.id, False, run_id) for partner in registry.partners}
    finally:
        con.close()
    build_marts(ctx)
    return results
