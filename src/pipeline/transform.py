"""Rebuild the marts from core by running sql/marts/*.sql in name order, in one transaction."""

from __future__ import annotations

from pipeline import db
from pipeline.settings import Settings


def build_marts(settings: Settings) -> list[str]:
    con = db.connect(settings.db_path, settings.sql_dir)
    names = sorted(p.stem for p in (settings.sql_dir / "marts").glob("*.sql"))
    try:
        with db.transaction(con):
            for name in names:
                db.run(con, settings.sql_dir, f"marts/{name}")
    finally:
        con.close()
    return names
