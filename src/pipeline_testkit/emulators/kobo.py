"""A KoboToolbox (KPI) API v2 emulator: GET /api/v2/assets/{uid}/data/ and the asset's detail GET
/api/v2/assets/{uid}/ (its form as `content`: survey rows, choices, translations) as the public docs and the
recorded payloads in shared/payloads/kobotoolbox show them.

Behaviour reproduced: `Authorization: Token` (401 `{"detail": "Invalid token."}`), 404 for unknown assets,
`format=json` only, `limit` (default 100, capped at 1000) and `start` with absolute `next`/`previous` URLs that
keep every other parameter, Mongo-style `query` (JSON; `$gt $gte $lt $lte $eq $ne $in` and equality) and
`sort` (JSON, default by `_id`), 400 on a query that is not JSON. Submissions are stored as given: group
paths in keys, select_multiple as space-separated codes, Kobo's metadata fields. `between_pages`: actions run
one per page served, after it is sent (e.g. a submission deleted between two page reads of a pull).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from pipeline.contract.codebook import Codebook
from pipeline.registry import Partner
from pipeline_testkit.emulators.server import DemoService, EmulatorServer, FaultQueue, JsonHandler
from pipeline_testkit.emulators.synthetic import Response, answer_labels, partner_answers

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_OPS = {
    "$gt": lambda a, b: a is not None and a > b,
    "$gte": lambda a, b: a is not None and a >= b,
    "$lt": lambda a, b: a is not None and a < b,
    "$lte": lambda a, b: a is not None and a <= b,
    "$eq": lambda a, b: a == b,
    "$ne": lambda a, b: a != b,
    "$in": lambda a, b: a in b,
}


@dataclass
class Asset:
    token: str
    submissions: list[dict[str, Any]] = field(default_factory=list)
    # the deployed form as the asset detail's `content` holds it (see form_content)
    content: dict[str, Any] = field(default_factory=lambda: {"survey": [], "choices": [], "translations": [None]})


class KoboEmulator:
    """The server's state: assets with their token and submissions, faults to inject, requests seen."""

    def __init__(self) -> None:
        self.assets: dict[str, Asset] = {}
        self.faults = FaultQueue()
        self.requests: list[tuple[float, str]] = []
        self.between_pages: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        # A pull reads one filtered, sorted view page by page: keep it until the asset changes.
        self._views: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}

    def add_asset(
        self,
        uid: str,
        token: str,
        submissions: list[dict[str, Any]] | None = None,
        content: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            self.assets[uid] = Asset(token, list(submissions or []))
            if content is not None:
                self.assets[uid].content = content
            self._views = {}

    def add_submissions(self, uid: str, submissions: list[dict[str, Any]]) -> None:
        with self._lock:
            self.assets[uid].submissions.extend(submissions)
            self._views = {}

    def edit(self, uid: str, submission: dict[str, Any]) -> None:
        """An edit in Enketo: the submission with the same _id gets the new content, and its _submission_time
        stays what it was (nothing in the data API tells a client that it changed: kpi issue #7259)."""
        with self._lock:
            rows = self.assets[uid].submissions
            at = next(i for i, row in enumerate(rows) if row["_id"] == submission["_id"])
            rows[at] = {**submission, "_submission_time": rows[at]["_submission_time"]}
            self._views = {}

    def review(self, uid: str, submission_id: int, status: str, label: str) -> None:
        """A reviewer sets a submission's validation status (PATCH .../data/{id}/validation_status/ in KPI): the
        status object changes, the answers and the _submission_time stay."""
        with self._lock:
            row = next(row for row in self.assets[uid].submissions if row["_id"] == submission_id)
            row["_validation_status"] = {
                "timestamp": int(time.time()), "uid": status, "by_whom": "reviewer", "label": label,
            }  # fmt: skip
            self._views = {}

    def delete(self, uid: str, submission_id: int) -> None:
        """A submission deleted in the project's data table: the data API no longer lists it."""
        with self._lock:
            asset = self.assets[uid]
            asset.submissions = [row for row in asset.submissions if row["_id"] != submission_id]
            self._views = {}

    def serve(self, port: int = 0) -> EmulatorServer:
        return EmulatorServer(_Handler, self, port).start()

    def page(self, uid: str, query: dict[str, Any], sort: dict[str, int], start: int, limit: int) -> tuple[int, list]:
        with self._lock:
            submissions = self.assets[uid].submissions
            view_key = (uid, json.dumps(query, sort_keys=True), json.dumps(sort), len(submissions))
            rows = self._views.get(view_key)
            if rows is None:
                rows = [s for s in submissions if _matches(s, query)]
                for key, direction in reversed(list(sort.items())):
                    rows.sort(key=lambda s, k=key: (s.get(k) is None, s.get(k)), reverse=direction < 0)
                self._views = {view_key: rows}
        return len(rows), rows[start : start + limit]


def _matches(submission: dict[str, Any], query: dict[str, Any]) -> bool:
    for key, cond in query.items():
        value = submission.get(key)
        if isinstance(cond, dict):
            if not all(_OPS[op](value, arg) for op, arg in cond.items()):
                return False
        elif value != cond:
            return False
    return True


class _Handler(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802
        state: KoboEmulator = self.server.state  # type: ignore[attr-defined]
        state.requests.append((time.monotonic(), self.path))
        fault = state.faults.next()
        if fault:
            return self.send_fault(fault)
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        detail = len(segments) == 4
        if segments[:3] != ["api", "v2", "assets"] or not (detail or segments[4:] in (["data"], ["data.json"])):
            return self.send_json(404, {"detail": "Not found."})
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Token "):
            return self.send_json(401, {"detail": "Authentication credentials were not provided."})
        asset = state.assets.get(segments[3])
        if asset is None:
            return self.send_json(404, {"detail": "Not found."})
        if auth.removeprefix("Token ") != asset.token:
            return self.send_json(401, {"detail": "Invalid token."})
        if detail:
            return self._detail(segments[3], asset)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if params.get("format", "json") != "json" and segments[4] == "data":
            return self.send_json(404, {"detail": "Not found."})
        try:
            query = json.loads(params.get("query") or "{}")
            sort = json.loads(params.get("sort") or '{"_id": 1}')
            start = max(int(params.get("start", 0)), 0)
            limit = min(max(int(params.get("limit", DEFAULT_LIMIT)), 1), MAX_LIMIT)
        except (ValueError, TypeError):
            return self.send_json(400, {"detail": "Your query is not valid JSON."})
        count, results = state.page(segments[3], query, sort, start, limit)
        base = f"http://{self.headers.get('Host')}{parts.path}"

        def link(offset: int) -> str:
            return f"{base}?{urlencode({**params, 'limit': limit, 'start': offset})}"

        self.send_json(200, {
            "count": count,
            "next": link(start + limit) if start + limit < count else None,
            "previous": link(max(start - limit, 0)) if start > 0 else None,
            "results": results,
        })  # fmt: skip
        if state.between_pages:
            state.between_pages.popleft()()

    def _detail(self, uid: str, asset: Asset) -> None:
        """The asset as GET /api/v2/assets/{uid}/ describes it (the fields a client reads, of many more)."""
        self.send_json(200, {
            "url": f"http://{self.headers.get('Host')}/api/v2/assets/{uid}/",
            "uid": uid,
            "asset_type": "survey",
            "has_deployment": True,
            "deployment__active": True,
            "deployment__submission_count": len(asset.submissions),
            "content": asset.content,
        })  # fmt: skip


def form_content(labels: dict[str, dict[str, str]], translation: str = "Deutsch (de)") -> dict[str, Any]:
    """An asset's `content` with one select_one per question path (its groups opened and closed around it) and
    a choice list of its own, labelled in one translation: question path → choice name → label."""
    survey: list[dict[str, Any]] = []
    choices: list[dict[str, Any]] = []
    groups: list[str] = []
    for n, (path, answers) in enumerate(labels.items()):
        *wanted, name = path.split("/")
        while groups != wanted[: len(groups)]:
            survey.append({"type": "end_group"})
            groups.pop()
        for group in wanted[len(groups) :]:
            survey.append({"type": "begin_group", "name": group, "$autoname": group, "label": [group]})
            groups.append(group)
        list_name = f"liste_{n}"
        survey.append({"type": "select_one", "name": name, "$autoname": name, "label": [name],
                       "select_from_list_name": list_name})  # fmt: skip
        choices += [{"list_name": list_name, "name": code, "$autovalue": code, "label": [label]}
                    for code, label in answers.items()]  # fmt: skip
    survey += [{"type": "end_group"} for _ in groups]
    return {"survey": survey, "choices": choices, "translations": [translation], "translated": ["label"]}


def submission(partner: Partner, codebook: Codebook, response: Response) -> dict[str, Any]:
    """A generated response as Kobo stores it: the partner's codes plus Kobo's metadata (as in the recorded
    payloads), a device id and a contact e-mail among them, which the pipeline must drop."""
    uid = str(uuid.UUID(int=(response.id * 2654435761) % 2**64 << 64 | response.id))
    submitted = response.submitted_at
    return {
        "_id": response.id,
        "formhub/uuid": "5d2b0c1e8f4a4b7e9c3d1a2b3c4d5e6f",
        "start": (submitted - timedelta(minutes=14)).isoformat(timespec="milliseconds") + "-00:00",
        "end": (submitted - timedelta(seconds=9)).isoformat(timespec="milliseconds") + "-00:00",
        "today": submitted.date().isoformat(),
        "deviceid": f"ee.kobo.lu:{response.id * 7919 % 10**9}",
        "kontakt/email": response.contact["email"],
        **partner_answers(partner, codebook, response, tick="1"),
        "__version__": f"v{response.wave}demo",
        "meta/instanceID": f"uuid:{uid}",
        "_xform_id_string": partner.connector.asset_uid,
        "_uuid": uid,
        "_attachments": [],
        "_status": "submitted_via_web",
        "_geolocation": [None, None],
        "_submission_time": submitted.isoformat(timespec="seconds"),
        "_tags": [],
        "_notes": [],
        "_validation_status": {},
        "_submitted_by": None,
        "meta/rootUuid": f"uuid:{uid}",
    }


def serve_demo(codebook: Codebook, partners: list[tuple[Partner, list[Response]]], workdir: Path) -> DemoService:
    """One emulator for all Kobo partners, an asset and a fresh token each."""
    emulator = KoboEmulator()
    service = DemoService(emulator=emulator)
    for partner, generated in partners:
        token = secrets.token_urlsafe(24)
        service.served[partner.id] = [submission(partner, codebook, r) for r in generated]
        service.env[partner.secret_env] = token
        content = form_content(answer_labels(partner, codebook))
        emulator.add_asset(partner.connector.asset_uid, token, service.served[partner.id], content)
    service.server = emulator.serve()
    service.overrides = {partner.id: {"base_url": service.server.url} for partner, _ in partners}
    return service
