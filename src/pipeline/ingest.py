"""One partner's ingest in one run: pull page by page, load each page, and account for it in the runs ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from pipeline import db, drift, runs
from pipeline.codebook import load_codebook
from pipeline.errors import PipelineError
from pipeline.extract import Page
from pipeline.load import PartnerLoader, gone_at_partner, record_full_read, start_from
from pipeline.registry import load_registry
from pipeline.settings import Settings


def ingest_partner(settings: Settings, partner_id: str, run_id: str) -> runs.PartnerRun:
    """Pull what is new at the partner since its cursor and load it (everything, when the connector's
    `reread_days` have passed since the last full read: edits the tool cannot list are seen then).

    The run is recorded whether it succeeds or not; on failure the error (naming the partner) is stored and
    raised again, and every page loaded before it stays loaded, its cursor included. The partner's earlier runs
    whose process died before they finished are marked interrupted first.
    """
    codebook = load_codebook(settings.codebook_file)
    registry = load_registry(settings.partners_file, codebook, check_secrets=False)
    partner = registry.partner(partner_id)
    con = db.connect(settings.db_path, settings.sql_dir)
    try:
        runs.mark_interrupted(con, settings.sql_dir, partner.id)
        run = runs.resume(con, run_id, partner.id)
        runs.record(con, settings.sql_dir, run)
        try:
            connector = partner.connector.open(partner.id, partner.secret(), settings, partner.identifier_fields)
            loader = PartnerLoader(
                con, settings, codebook, registry, partner, run, omits_unanswered=connector.omits_unanswered
            )
            started = datetime.now(UTC)
            start = start_from(con, loader.source, partner.connector.reread_days, started)
            full = start is None and partner.connector.reread_days is not None
            listed: list[pa.ChunkedArray] = []  # a full read's source ids: what is not among them is gone
            batch: list[Page] = []
            for page in connector.pull(start):
                if full:
                    listed.append(page.records.column("source_id"))
                batch.append(page)
                if sum(p.records.num_rows for p in batch) >= settings.batch_rows:
                    loader.load(batch, connector)
                    connector.loaded(batch)
                    batch = []
            if batch:
                loader.load(batch, connector)
                connector.loaded(batch)
        except PipelineError as exc:
            run.finish(str(exc))
            raise
        except Exception as exc:
            # A defect rather than a partner's problem: still on the record, with the partner it hit.
            run.finish(f"partner {partner.id}: unexpected {type(exc).__name__}: {exc}")
            raise
        else:
            if full:
                gone = gone_at_partner(con, settings.sql_dir, loader.source, listed)
                run.add_gone(gone)
                record_full_read(con, settings.sql_dir, partner.id, started)
            run.finish()
        finally:
            runs.record(con, settings.sql_dir, run)
            found = drift.report(con, settings.sql_dir, partner.id, run_id=run.run_id)
            run.drift = drift.lines(found, {partner.id: partner})
    finally:
        con.close()
    return run
