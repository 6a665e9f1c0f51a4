"""A SoSci Survey emulator: the API for data retrieval (JSON) as SoSci's manual describes it
(https://www.soscisurvey.de/help/doku.php/en:results:data-api, en:results:variables, en:results:values).

Behaviour reproduced: GET /{project}/?act={key}; the answer {"metadata": {"project", "datetime", "filter",
"language"}, "errors" (only when there are some), "data": {"C<CASE>": {...}}} with cases in CASE order, numbers
as JSON numbers, a variable without a value not listed, and an empty data set as [] (PHP's json_encode of an
empty array). Parameters: `cases` ("1,2,5,10-20", "101-", "none"), `vList` (only these variables; an unknown one
is reported in "errors"), `vSkip`, `vSkipTime` (no TIME### and no LASTDATA) and `changed` (cases whose data
changed after an ISO time: saved by their respondent after it, by the server's clock). metadata.datetime is
the server's clock in its local time.
Assumed, as the manual does not say: an unknown key is HTTP 403 with an HTML page, an unknown project a 404.
On demand: HTTP faults (FaultQueue).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from pipeline.contract.codebook import Codebook
from pipeline.registry import Partner
from pipeline_testkit.emulators.server import DemoService, EmulatorServer, FaultQueue, JsonHandler
from pipeline_testkit.emulators.synthetic import Response, partner_answers

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SERVER_TIMEZONE = "Europe/Berlin"
NOT_ANSWERED = -9  # "nicht beantwortet": a closed question shown and left unanswered
CHECKED, UNCHECKED = 2, 1  # a multiple choice option ticked or not
FORBIDDEN_PAGE = b"<!DOCTYPE html><html><body><p>Der API-Schl\xc3\xbcssel ist ung\xc3\xbcltig.</p></body></html>"
NOT_FOUND_PAGE = b"<!DOCTYPE html><html><body><p>Projekt nicht gefunden.</p></body></html>"
_TIME_VARIABLE = re.compile(r"^TIME\d{3}$")


@dataclass
class Project:
    key: str
    cases: dict[int, dict[str, Any]] = field(default_factory=dict)
    # when each case's data last changed by the server's clock: what `changed` compares with
    changed: dict[int, str] = field(default_factory=dict)


class SosciEmulator:
    """The server's state: projects with their API key and cases, faults to inject, requests seen."""

    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}
        self.faults = FaultQueue()
        self.requests: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def add_project(self, name: str, key: str, cases: list[dict[str, Any]] | None = None) -> None:
        """A project whose cases were saved at their LASTDATA."""
        with self._lock:
            self.projects[name] = Project(key)
            for case in cases or []:
                self.projects[name].cases[int(case["CASE"])] = dict(case)
                self.projects[name].changed[int(case["CASE"])] = str(case.get("LASTDATA", ""))

    def store(self, name: str, cases: list[dict[str, Any]], touch: bool = True) -> None:
        """Add cases, or replace those with the same CASE: saved now (a respondent's data: `changed` lists them),
        or, touch=False, as an edit in SoSci's data view that `changed` is assumed not to notice."""
        now = self.now()
        with self._lock:
            project = self.projects[name]
            for case in cases:
                number = int(case["CASE"])
                project.cases[number] = dict(case)
                project.changed[number] = now if touch or number not in project.changed else project.changed[number]

    def delete(self, name: str, case: int) -> None:
        with self._lock:
            del self.projects[name].cases[case], self.projects[name].changed[case]

    def now(self) -> str:
        """The server's clock, in its local time without a zone (as SoSci writes every time)."""
        return datetime.now(ZoneInfo(SERVER_TIMEZONE)).strftime(TIME_FORMAT)

    def serve(self, port: int = 0) -> EmulatorServer:
        return EmulatorServer(_Handler, self, port).start()

    def answer(self, name: str, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            project = self.projects[name]
            stored = [(project.changed[number], dict(case)) for number, case in sorted(project.cases.items())]
        known = {variable for _, case in stored for variable in case}
        wanted = _case_filter(params.get("cases"))
        changed = params.get("changed")
        since = datetime.fromisoformat(changed).strftime(TIME_FORMAT) if changed else None
        cases = [case for saved, case in stored if wanted(int(case["CASE"])) and (since is None or saved > since)]
        listed = [v for v in (params.get("vList") or "").split(",") if v]
        skipped = {v for v in (params.get("vSkip") or "").split(",") if v}
        data = {f"C{case['CASE']}": _variables(case, listed, skipped, "vSkipTime" in params) for case in cases}
        doc: dict[str, Any] = {
            "metadata": {"project": name, "datetime": self.now(), "filter": _described(params), "language": "ger"},
        }
        unknown = [v for v in listed if v not in known]
        if unknown:
            doc["errors"] = [f"Die Variable {v} existiert nicht." for v in unknown]
        doc["data"] = data or []
        return doc


def _case_filter(spec: str | None) -> Any:
    """A predicate for the `cases` parameter: numbers and ranges, an open range "101-", or "none"."""
    if not spec:
        return lambda case: True
    if spec == "none":
        return lambda case: False
    parts = []
    for part in spec.split(","):
        low, dash, high = part.strip().partition("-")
        parts.append((int(low), int(high) if high else (None if dash else int(low))))
    return lambda case: any(case >= low and (high is None or case <= high) for low, high in parts)


def _variables(case: dict[str, Any], listed: list[str], skipped: set[str], skip_time: bool) -> dict[str, Any]:
    out = {k: v for k, v in case.items() if v is not None}
    if listed:
        return {k: out[k] for k in listed if k in out}
    if skip_time:
        skipped = skipped | {k for k in out if _TIME_VARIABLE.match(k) or k == "LASTDATA"}
    return {k: v for k, v in out.items() if k not in skipped}


def _described(params: dict[str, str]) -> list[str]:
    filters = []
    if params.get("cases"):
        filters.append(f"Nur ausgewählte Fälle: CASE {params['cases']}")
    if params.get("changed"):
        filters.append(f"Nur Fälle mit Änderungen nach {params['changed']}")
    return filters


class _Handler(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802
        state: SosciEmulator = self.server.state  # type: ignore[attr-defined]
        state.requests.append((time.monotonic(), self.path))
        fault = state.faults.next()
        if fault:
            return self.send_fault(fault)
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        project = state.projects.get(segments[0]) if len(segments) == 1 else None
        if project is None:
            return self._html(404, NOT_FOUND_PAGE)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if params.get("act") != project.key:
            return self._html(403, FORBIDDEN_PAGE)
        self.send_json(200, state.answer(segments[0], params))

    def _html(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def local_time(utc: datetime) -> str:
    """A UTC time (naive) as SoSci stores it: the server's local time, without a zone."""
    return utc.replace(tzinfo=UTC).astimezone(ZoneInfo(SERVER_TIMEZONE)).strftime(TIME_FORMAT)


def case(partner: Partner, codebook: Codebook, response: Response) -> dict[str, Any]:
    """A generated response as SoSci stores a finished case: interview identification first, the answers in
    SoSci's codes (numbers; -9 for a closed question left unanswered; 2 / 1 for each option of a multiple
    choice shown), then times and progress. SERIAL and REF carry what identifies the respondent."""
    answers: dict[str, Any] = {code: _number(value) for code, value in partner_answers(
        partner, codebook, response, tick=str(CHECKED)).items()}  # fmt: skip
    for code, target in partner.mapping.items():
        item_code, is_option, _ = target.partition("=")
        item = codebook.item_by_code[item_code]
        if is_option and item_code in response.answers:
            answers.setdefault(code, UNCHECKED)
        elif not is_option and item.type in ("scale", "yesno") and item_code not in response.answers:
            answers.setdefault(code, NOT_ANSWERED)
    submitted = response.submitted_at
    return {
        "CASE": response.id,
        "SERIAL": f"HWG{response.id * 7919 % 10**6:06d}",
        "REF": response.contact["email"],
        "QUESTNNR": partner.connector.questionnaire or "base",  # type: ignore[union-attr]
        "MODE": "interview",
        "STARTED": local_time(submitted - timedelta(minutes=14)),
        **answers,
        "TIME001": 41,
        "TIME002": 388,
        "TIME_SUM": 829,
        "LASTDATA": local_time(submitted),
        "FINISHED": 1,
        "Q_VIEWER": 0,
        "LASTPAGE": 9,
        "MAXPAGE": 9,
    }


def unfinished(finished: dict[str, Any], case_number: int, mode: str = "interview") -> dict[str, Any]:
    """A case broken off on page 3 (or a pretest), as every real project has: not a response to load."""
    return {**finished, "CASE": case_number, "MODE": mode, "FINISHED": int(mode == "pretest"), "LASTPAGE": 3}


def _number(value: str) -> int | str:
    """SoSci's codes are numbers in its JSON; free texts stay strings."""
    return int(value) if re.fullmatch(r"-?\d+", value) else value


def serve_demo(codebook: Codebook, partners: list[tuple[Partner, list[Response]]], workdir: Path) -> DemoService:
    """One SoSci server for all its demo partners: a project each with its cases, plus a broken-off case and a
    pretest after them, and a fresh API key each."""
    emulator = SosciEmulator()
    service = DemoService(emulator=emulator)
    for partner, generated in partners:
        key = secrets.token_urlsafe(24)
        cases = [case(partner, codebook, r) for r in generated]
        service.served[partner.id] = cases
        service.env[partner.secret_env] = key
        last = max((r.id for r in generated), default=0)
        extra = [unfinished(cases[0], last + 1), unfinished(cases[-1], last + 2, "pretest")] if cases else []
        emulator.add_project(partner.connector.project, key, cases + extra)  # type: ignore[union-attr]
    service.server = emulator.serve()
    service.overrides = {partner.id: {"base_url": service.server.url} for partner, _ in partners}
    return service
