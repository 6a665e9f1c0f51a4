"""The webhook receiver process of `pipeline server`: pipeline.service.webhooks on uvicorn, emitting Prefect events.

Run as `python -m pipeline_flows.receiver` with PREFECT_API_URL set; it listens on 127.0.0.1:PIPELINE_WEBHOOK_PORT.
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from prefect.events import emit_event

from pipeline.context import Context
from pipeline.service.webhooks import create_app


def emit(event: str, resource: dict[str, str], payload: dict[str, Any]) -> str | None:
    """Hand the event to Prefect's events worker, which sends it to the server and resends after a reconnect."""
    sent = emit_event(event, resource=resource, payload=payload)
    return str(sent.id) if sent is not None else None


def main() -> None:
    ctx = Context.from_environment()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Its INFO lines are every request to the Prefect API, which drown the partners' calls.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(create_app(ctx, emit), host="127.0.0.1", port=ctx.settings.webhook_port, log_level="info")


if __name__ == "__main__":
    main()
