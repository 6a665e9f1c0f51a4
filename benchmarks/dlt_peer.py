"""The dlt peer the pipeline's ingest is compared with (`./dev bench --compare`), on the same Kobo pages it pulls.

    python benchmarks/dlt_peer.py BASE_URL UID=TOKEN [UID=TOKEN ...]

Run in a process of its own (as the pipeline and limits.py are), it loads every asset's submissions with dlt's
REST API source (pages of 1,000 by `start`/`limit`, as the pipeline asks) into a DuckDB file in a temporary
folder, through dlt's parquet loader files: dlt's whole extract, normalize (nested lists to child tables) and
load, one table per asset. It prints one JSON line: the submissions loaded (counted in the DuckDB file), the
seconds of the run and of each of its steps, and the process's own peak RSS (VmHWM).

dlt's telemetry is switched off and its data folder is the temporary one: nothing leaves the machine, and
nothing is written to the home folder. Needs the `bench` extra (`./dev bench` installs it).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

LIMIT = 1000


def peak_rss_mb() -> float:
    """VmHWM: this process's own high-water mark (ru_maxrss would carry over the spawning parent's)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    base_url, assets = sys.argv[1].rstrip("/"), [a.split("=", 1) for a in sys.argv[2:]]
    with tempfile.TemporaryDirectory(prefix="dlt-peer-") as tmp:
        # before dlt is imported: its configuration is read from the environment
        os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
        os.environ["DLT_DATA_DIR"] = tmp
        import dlt
        from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
        from dlt.sources.rest_api import rest_api_resources

        def submissions(uid: str, token: str) -> list:
            """The asset's submissions as dlt's REST API source reads them: one resource, one table."""
            config = {
                "client": {"base_url": f"{base_url}/api/v2/assets/", "headers": {"Authorization": f"Token {token}"}},
                "resources": [
                    {
                        "name": f"submissions_{uid.lower()}",
                        "endpoint": {
                            "path": f"{uid}/data/",
                            "params": {"format": "json"},
                            "data_selector": "results",
                            "paginator": OffsetPaginator(
                                limit=LIMIT, offset_param="start", limit_param="limit", total_path="count"
                            ),
                        },
                    }
                ],
            }
            return rest_api_resources(config)

        pipeline = dlt.pipeline(
            pipeline_name="dlt_peer",
            destination=dlt.destinations.duckdb(os.path.join(tmp, "dlt_peer.duckdb")),
            dataset_name="kobo",
            pipelines_dir=os.path.join(tmp, "pipelines"),
        )
        started = time.perf_counter()
        resources = [resource for uid, token in assets for resource in submissions(uid, token)]
        info = pipeline.run(resources, loader_file_format="parquet")
        dlt_s = time.perf_counter() - started

        # every data table through parquet (dlt writes its own state row as insert_values)
        jobs = [job.job_file_info for package in info.load_packages for job in package.jobs["completed_jobs"]]
        formats = {job.file_format for job in jobs if not job.table_name.startswith("_dlt")}
        assert formats == {"parquet"}, jobs
        assert not info.has_failed_jobs, info
        steps = {
            step.step: (step.finished_at - step.started_at).total_seconds()
            for step in pipeline.last_trace.steps
            if step.step in ("extract", "normalize", "load")
        }
        with pipeline.sql_client() as client:
            naming = pipeline.default_schema.naming
            tables = [client.make_qualified_table_name(naming.normalize_table_identifier(r.name)) for r in resources]
            loaded = sum(client.execute_sql(f"select count(*) from {table}")[0][0] for table in tables)
        all_tables = len(pipeline.default_schema.data_tables())
    print(
        json.dumps(
            {
                "responses": loaded,
                "dlt_s": dlt_s,
                "steps_s": steps,
                "tables": all_tables,
                "peak_rss_mb": peak_rss_mb(),
                "dlt_version": dlt.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
