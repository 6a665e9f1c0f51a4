"""A LimeSurvey RemoteControl 2 emulator: JSON-RPC over POST as LimeSurvey's source (remotecontrol_handle.php,
JsonWriter, CsvWriter), its API documentation and the recorded results in shared/payloads/limesurvey show it.

Behaviour reproduced:
- POST {endpoint} with `Content-Type: application/json` and {"method", "params": [positional], "id"}; the reply
  is {"id", "result", "error"} with HTTP 200. Application errors are results {"status": "..."} with error null;
  protocol errors are a string in `error`; an unknown method is HTTP 500 with an HTML page (PHP's uncaught
  Error); another path is a 404 page; a request that is not JSON-RPC gets an HTML page.
- get_session_key(user, password[, plugin]) → a 32-character key, or {"status": "Invalid user name or
  password"}; release_session_key(key) → "OK"; a key expires after session_lifetime seconds or on demand
  (expire_sessions), then every method answers {"status": "Invalid session key"}.
- export_responses(key, survey, document type, language, completion, heading, response type, from id, to id,
  fields) → the export as base64. "No permission" (unknown survey, or the user may not export it), "No Data,
  survey table does not exist." (survey not activated), "No Data, could not get max id." (no response at all),
  "Language code not found for this survey.". Ids are inclusive, `to` defaults to the highest id; completion
  "complete" means submitdate set (the 1980 date of surveys without date stamps included). Headings are codes
  whatever is asked. JSON is written as PHP's json_encode writes it (\\uXXXX escapes, "\\/"): {"responses":
  [{...}]} with id and lastpage as numbers, NULL as null; older servers (legacy_json) wrap each row as
  {"<id>": {...}}. CSV is written as current core writes it: UTF-8 BOM, ';', every value quoted, CRLF, NULL as
  an empty unquoted field, a blank line at the end.
- list_questions(key, survey[, group, language]) → the survey's questions and subquestions (qid, parent_qid,
  sid, gid, type, title, question, language, ...), or {"status": "No permission"} / "Error: Invalid survey ID" /
  "Error: Invalid language" / "No questions found"; get_question_properties(key, qid[, settings, language]) →
  the settings asked for (all when null); `answeroptions` is {code: {"answer", "assessment_value", "scale_id",
  "order"}}, or "No available answer options" for a question without any.
On demand: HTTP faults (FaultQueue), raw replies or JSON-RPC errors for a method (inject), expired keys.
"""

from __future__ import annotations

import base64
import bisect
import csv
import io
import itertools
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.contract.codebook import Codebook
from pipeline.registry import Partner, parse_target
from pipeline_testkit.emulators.server import DemoService, EmulatorServer, FaultQueue, JsonHandler
from pipeline_testkit.emulators.synthetic import Response, answer_labels, partner_answers

ENDPOINT = "/index.php/admin/remotecontrol"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
NUMERIC_COLUMNS = frozenset({"id", "lastpage"})
# The survey table's own columns, before the questions (the order LimeSurvey exports them in).
METADATA_COLUMNS = ("id", "submitdate", "lastpage", "startlanguage", "seed", "token", "startdate", "datestamp",
                    "ipaddr", "refurl")  # fmt: skip
HTML_500 = (
    b"<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head><body>"
    b"<h1>Internal Server Error</h1><p>Call to undefined method remotecontrol_handle::unknown()</p></body></html>"
)
LOGIN_PAGE = (
    b'<!DOCTYPE html>\n<html lang="de"><head><title>LimeSurvey</title></head><body>'
    b'<form id="loginform" action="/index.php/admin/authentication/sa/login" method="post"></form></body></html>'
)


@dataclass(frozen=True)
class RawReply:
    """A reply given as bytes, for the shapes that are not JSON-RPC (an HTML 500, an empty body)."""

    status: int
    body: bytes
    content_type: str = "text/html; charset=UTF-8"


@dataclass(frozen=True)
class RpcError:
    """A JSON-RPC protocol error: the envelope's `error` holds this message and `result` is null."""

    message: str


@dataclass
class Question:
    """A question of a survey: its code (title), LimeSurvey type, text, answer options (code → label, in the
    order shown) and the codes of its subquestions (a multiple choice's or an array's rows)."""

    title: str
    type: str
    question: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    subquestions: tuple[str, ...] = ()
    qid: int = 0  # given by the server when the survey is added


@dataclass
class Survey:
    owner: str
    languages: tuple[str, ...] = ("de",)
    active: bool = True
    responses: dict[int, dict[str, Any]] = field(default_factory=dict)
    questions: list[Question] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    # sorted, so an id range is found by bisection: benchmarks export thousands of ranges
    ids: list[int] = field(default_factory=list)

    def store(self, rows: list[dict[str, Any]]) -> None:
        """Rows replace those with the same id (an edit) or are added; columns grow as a survey table does."""
        for row in rows:
            response_id = int(row["id"])
            if response_id not in self.responses:
                bisect.insort(self.ids, response_id)
            self.responses[response_id] = dict(row)
            self.columns.extend(c for c in row if c not in self.columns)

    def delete(self, response_id: int) -> None:
        """A response deleted in the survey's response table: no export lists it any more."""
        del self.responses[response_id]
        self.ids.remove(response_id)

    def between(self, low: int, high: int) -> list[dict[str, Any]]:
        """The responses with low <= id <= high, by id."""
        found = self.ids[bisect.bisect_left(self.ids, low) : bisect.bisect_right(self.ids, high)]
        return [self.responses[i] for i in found]


class LimeSurveyEmulator:
    """The server's state: users, surveys with their responses, sessions, faults to inject, calls seen."""

    def __init__(self, endpoint: str = ENDPOINT, session_lifetime: float = 7200.0) -> None:
        self.endpoint = endpoint
        self.session_lifetime = session_lifetime
        self.legacy_json = False
        self.users: dict[str, str] = {}
        self.surveys: dict[int, Survey] = {}
        self.faults = FaultQueue()
        # (method, params without session key or password): what the tests check requests against
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._sessions: dict[str, tuple[str, float]] = {}
        self._injected: dict[str | None, deque[RawReply | RpcError]] = {}
        self._lock = threading.Lock()
        self._qids = itertools.count(1000)

    def add_user(self, username: str, password: str) -> None:
        self.users[username] = password

    def add_survey(self, survey_id: int, owner: str, rows: list[dict[str, Any]] | None = None, **options: Any) -> None:
        with self._lock:
            self.surveys[survey_id] = Survey(owner, **options)
            self.surveys[survey_id].store(rows or [])
            for question in self.surveys[survey_id].questions:
                question.qid = next(self._qids)

    def store(self, survey_id: int, rows: list[dict[str, Any]]) -> None:
        """Add responses, or replace those with the same id (a response completed or edited later)."""
        with self._lock:
            self.surveys[survey_id].store(rows)

    def delete(self, survey_id: int, response_id: int) -> None:
        with self._lock:
            self.surveys[survey_id].delete(response_id)

    def expire_sessions(self) -> None:
        """Every key handed out so far becomes invalid, as when the server's session lifetime has passed."""
        with self._lock:
            self._sessions.clear()

    @property
    def open_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def inject(self, reply: RawReply | RpcError, method: str | None = None, count: int = 1) -> None:
        """Answer the next count calls of method (of any method when None) with reply instead."""
        with self._lock:
            self._injected.setdefault(method, deque()).extend([reply] * count)

    def serve(self, port: int = 0) -> EmulatorServer:
        return EmulatorServer(_Handler, self, port).start()

    def injected(self, method: str) -> RawReply | RpcError | None:
        with self._lock:
            for key in (method, None):
                queue = self._injected.get(key)
                if queue:
                    return queue.popleft()
        return None

    def dispatch(self, method: str, params: list[Any]) -> Any:
        """The result of one call; raises LookupError for an unknown method, TypeError for wrong parameters."""
        handler: Callable[..., Any] | None = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            raise LookupError(method)
        return handler(*params)

    def _rpc_get_session_key(self, username: str, password: str, plugin: str = "Authdb") -> Any:
        self.calls.append(("get_session_key", (username,)))
        if self.users.get(str(username)) != str(password):
            return {"status": "Invalid user name or password"}
        key = secrets.token_hex(16)
        with self._lock:
            self._sessions[key] = (str(username), time.monotonic() + self.session_lifetime)
        return key

    def _rpc_release_session_key(self, key: str) -> str:
        self.calls.append(("release_session_key", ()))
        with self._lock:
            self._sessions.pop(str(key), None)
        return "OK"

    def _rpc_export_responses(
        self,
        key: str,
        survey_id: int,
        document_type: str,
        language: str | None = None,
        completion: str = "all",
        heading: str = "code",
        response_type: str = "short",
        from_id: int | None = None,
        to_id: int | None = None,
        fields: list[str] | None = None,
    ) -> Any:
        params = (survey_id, document_type, language, completion, heading, response_type, from_id, to_id, fields)
        self.calls.append(("export_responses", params))
        user = self._user(key)
        if user is None:
            return {"status": "Invalid session key"}
        survey = self.surveys.get(int(survey_id))
        if survey is None or survey.owner != user:
            return {"status": "No permission"}
        if not survey.active:
            return {"status": "No Data, survey table does not exist."}
        if not survey.responses:
            return {"status": "No Data, could not get max id."}
        if language and language not in survey.languages:
            return {"status": "Language code not found for this survey."}
        with self._lock:
            high = int(to_id or survey.ids[-1])
            rows = [row for row in survey.between(int(from_id or 1), high) if _completion_matches(row, completion)]
            columns = [c for c in survey.columns if fields is None or c in fields]
        if document_type == "csv":
            return base64.b64encode(_csv(columns, rows)).decode("ascii")
        if document_type != "json":
            raise TypeError(f"export type {document_type} is not available")
        return base64.b64encode(_json(columns, rows, self.legacy_json)).decode("ascii")

    def _rpc_list_questions(
        self, key: str, survey_id: int, group_id: int | None = None, language: str | None = None
    ) -> Any:
        self.calls.append(("list_questions", (survey_id, group_id, language)))
        survey, status = self._readable(key, survey_id, language)
        if survey is None:
            return status
        if not survey.questions:
            return {"status": "No questions found"}
        rows = []
        for question in survey.questions:
            rows.append(self._question_row(survey_id, question, question.qid, 0, question.title, language))
            rows += [
                self._question_row(survey_id, question, question.qid * 1000 + n, question.qid, sub, language)
                for n, sub in enumerate(question.subquestions, start=1)
            ]
        return rows

    def _rpc_get_question_properties(
        self, key: str, question_id: int, settings: list[str] | None = None, language: str | None = None
    ) -> Any:
        self.calls.append(("get_question_properties", (question_id, settings, language)))
        found = [(sid, q) for sid, s in self.surveys.items() for q in s.questions if q.qid == int(question_id)]
        if not found:
            return {"status": "Error: Invalid questionid"}
        survey, status = self._readable(key, found[0][0], language)
        if survey is None:
            return status
        question = found[0][1]
        answers = {
            code: {"answer": label, "assessment_value": 0, "scale_id": 0, "order": n}
            for n, (code, label) in enumerate(question.answers.items(), start=1)
        }
        properties = {
            "qid": question.qid,
            "title": question.title,
            "type": question.type,
            "question": question.question,
            "other": "N",
            "answeroptions": answers or "No available answer options",
            "subquestions": {str(question.qid * 1000 + n): {"title": sub, "question": sub, "scale_id": 0}
                             for n, sub in enumerate(question.subquestions, start=1)} or "No available answers",
        }  # fmt: skip
        return {k: v for k, v in properties.items() if settings is None or k in settings}

    def _readable(self, key: str, survey_id: int, language: str | None) -> tuple[Survey | None, Any]:
        """The survey when the session's user may read it in that language, else (None, the status to answer)."""
        user = self._user(key)
        if user is None:
            return None, {"status": "Invalid session key"}
        survey = self.surveys.get(int(survey_id))
        if survey is None:
            return None, {"status": "Error: Invalid survey ID"}
        if survey.owner != user:
            return None, {"status": "No permission"}
        if language and language not in survey.languages:
            return None, {"status": "Error: Invalid language"}
        return survey, None

    def _question_row(
        self, survey_id: int, question: Question, qid: int, parent: int, title: str, language: str | None
    ) -> dict[str, Any]:
        """A row of list_questions as LimeSurvey returns it (recorded in shared/payloads/limesurvey)."""
        return {
            "qid": qid, "parent_qid": parent, "sid": survey_id, "gid": 1, "type": question.type if not parent else "T",
            "title": title, "question": question.question if not parent else title, "preg": "", "help": "",
            "other": "N", "mandatory": "N", "question_order": 1, "language": language or "de", "same_default": 0,
            "modulename": None,
        }  # fmt: skip

    def _user(self, key: str) -> str | None:
        with self._lock:
            user, expires = self._sessions.get(str(key), (None, 0.0))
            if user is not None and expires <= time.monotonic():
                del self._sessions[str(key)]
                return None
            return user


def _completion_matches(row: dict[str, Any], completion: str) -> bool:
    complete = row.get("submitdate") not in (None, "")
    return completion == "all" or complete == (completion == "complete")


def php_json(value: Any) -> bytes:
    """JSON as PHP's json_encode writes it by default: non-ASCII as \\uXXXX (surrogate pairs), '/' as '\\/'."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def _json(columns: list[str], rows: list[dict[str, Any]], legacy: bool) -> bytes:
    shaped = [{c: _typed(c, row.get(c)) for c in columns} for row in rows]
    if legacy:
        shaped = [{str(row["id"]): row} for row in shaped]
    return php_json({"responses": shaped})


def _typed(column: str, value: Any) -> Any:
    if value is None:
        return None
    return int(value) if column in NUMERIC_COLUMNS else str(value)


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    lines = [";".join(_csv_quote(c) for c in columns)]
    lines += [";".join("" if row.get(c) is None else _csv_quote(str(row[c])) for c in columns) for row in rows]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _csv_quote(value: str) -> str:
    return '"' + re.sub(r"\r\n|\r|\n", "\n", value).replace('"', '""') + '"'


class _Handler(JsonHandler):
    def do_POST(self) -> None:  # noqa: N802
        state: LimeSurveyEmulator = self.server.state  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = state.faults.next()
        if fault:
            return self.send_fault(fault)
        if self.path != state.endpoint:
            return self._send(404, b"<!DOCTYPE html><html><body><h1>Page not found</h1></body></html>")
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self._send(200, LOGIN_PAGE)
        try:
            request = json.loads(body)
            method, params, request_id = str(request["method"]), list(request.get("params") or []), request.get("id")
        except (ValueError, KeyError, TypeError):
            return self._envelope(None, None, "unknown method or incorrect parameters")
        injected = state.injected(method)
        if isinstance(injected, RawReply):
            return self._send(injected.status, injected.body, injected.content_type)
        if isinstance(injected, RpcError):
            return self._envelope(request_id, None, injected.message)
        try:
            result = state.dispatch(method, params)
        except LookupError:
            return self._send(500, HTML_500)
        except TypeError:
            return self._envelope(request_id, None, "unknown method or incorrect parameters")
        return self._envelope(request_id, result, None)

    def _envelope(self, request_id: Any, result: Any, error: str | None) -> None:
        self._send(200, php_json({"id": request_id, "result": result, "error": error}), "application/json")

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=UTF-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def local_time(utc: datetime, timezone: str) -> str:
    """A UTC time (naive) as LimeSurvey stores it: the server's local time, without a zone."""
    return utc.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).strftime(TIME_FORMAT)


def submission(partner: Partner, codebook: Codebook, response: Response) -> dict[str, Any]:
    """A generated response as LimeSurvey stores it: the survey table's metadata in server-local time (the
    partner's time zone), every mapped column (NULL where the question was not shown, i.e. the respondent
    skipped the item; "" where shown and unanswered or an option not ticked; "Y" where an option is ticked), and
    a participant token, an IP address and a contact name, which the pipeline must drop."""
    tz = partner.connector.timezone
    return {
        "id": response.id,
        "submitdate": local_time(response.submitted_at, tz),
        "lastpage": 9,
        "startlanguage": "de",
        "seed": str(response.id * 2654435761 % 2**31),
        "token": base64.b32encode(response.id.to_bytes(10, "big")).decode("ascii")[-15:].lower(),
        "startdate": local_time(response.submitted_at - timedelta(minutes=14), tz),
        "datestamp": local_time(response.submitted_at, tz),
        "ipaddr": f"10.{response.id // 65536 % 256}.{response.id // 256 % 256}.{response.id % 256}",
        "refurl": "",
        **{code: "" if parse_target(text).item in response.answers else None for code, text in partner.mapping.items()},
        **partner_answers(partner, codebook, response, tick="Y"),
    }


def abandoned(row: dict[str, Any], response_id: int, answered: int = 6) -> dict[str, Any]:
    """A response left unfinished on page 2: no submitdate, the first few questions answered, the questions
    never shown NULL. It is never exported as complete, so it never enters the pipeline."""
    questions = [c for c in row if c not in METADATA_COLUMNS]
    return {
        **row,
        "id": response_id,
        "submitdate": None,
        "lastpage": 2,
        **{c: None for c in questions[answered:]},
    }


def survey_questions(partner: Partner, codebook: Codebook) -> list[Question]:
    """The questions of a partner's survey behind its mapped columns (and its organisation type question): a
    list (L) labelled as the codebook labels the answers its recode leads to, a multiple choice (M) with a
    subquestion per `Q[SQ]` column, a long free text (T) for the rest."""
    labels = answer_labels(partner, codebook)
    questions: dict[str, Question] = {}
    for code in [*partner.mapping, *labels]:
        title, _, sub = code.partition("[")
        if title not in questions:
            kind = "L" if title in labels else "M" if sub else "T"
            questions[title] = Question(title, kind, title, labels.get(title, {}))
        if sub:
            questions[title].subquestions += (sub.rstrip("]"),)
    return list(questions.values())


def rows_from_csv(export: bytes) -> list[dict[str, Any]]:
    """Rows of a recorded CSV export (as in shared/payloads/limesurvey), to serve them again: BOM and either
    separator accepted; the trailing blank line is no row."""
    text = export.decode("utf-8-sig")
    dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;")
    rows = [row for row in csv.DictReader(io.StringIO(text, newline=""), dialect=dialect) if any(row.values())]
    return [{c: int(v) if c in NUMERIC_COLUMNS and v else v for c, v in row.items()} for row in rows]


def serve_demo(codebook: Codebook, partners: list[tuple[Partner, list[Response]]], workdir: Path) -> DemoService:
    """One LimeSurvey for all its demo partners: a survey each (its responses, plus two abandoned ones after
    them, as every real survey has), a fresh password per user."""
    emulator = LimeSurveyEmulator()
    service = DemoService(emulator=emulator)
    passwords: dict[str, str] = {}
    for partner, generated in partners:
        config = partner.connector
        password = passwords.setdefault(config.username, secrets.token_urlsafe(24))
        emulator.add_user(config.username, password)
        rows = [submission(partner, codebook, r) for r in generated]
        service.served[partner.id] = rows
        service.env[partner.secret_env] = password
        last = max((r.id for r in generated), default=0)
        unfinished = [abandoned(rows[i % len(rows)], last + 1 + i) for i in range(2)] if rows else []
        emulator.add_survey(
            config.survey_id,
            config.username,
            rows + unfinished,
            languages=("de", "en"),
            questions=survey_questions(partner, codebook),
        )
    service.server = emulator.serve()
    service.overrides = {partner.id: {"base_url": service.server.url} for partner, _ in partners}
    return service
