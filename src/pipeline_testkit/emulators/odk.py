"""An ODK Central emulator: sessions and the OData Submissions feed of a form, as Central's API documentation, its
source (getodk/central-backend) and the recorded outputs in shared/payloads/odk_central show them.

Behaviour reproduced:
- `POST /v1/sessions {"email", "password"}` → `{"createdAt", "expiresAt", "token", "csrf"}` (24 h); wrong
  credentials 401.2, missing ones 400.3; `DELETE /v1/sessions/{token}` ends a session. `Authorization: Bearer`
  on the feed: an unknown or expired token 401.2, none at all 403.1 (anonymous may not read), an account
  without a role on the form 403.1, an unknown project or form 404.1.
- `GET /v1/projects/{p}/forms/{f}.svc/Submissions`: newest first (submission time, then arrival); `$top`,
  `$skip`, `$count=true` (`@odata.count` counts every matching row), `$filter` (comparisons `eq ne lt le gt ge`
  of a field with a timestamp, a quoted string or null, joined by `and`/`or`; `eq` and `ne` compare null as a
  value, as Central's `is not distinct from` does, so `__system/reviewState ne 'rejected'` keeps the submissions
  never reviewed; a field outside filter_fields → 501.5, anything else it cannot parse → 400.18), `$orderby` on
  the same fields. A review (`review()`) sets `reviewState` and `updatedAt`, as Central does. When rows remain,
  `@odata.nextLink` repeats the request's parameters with `$skiptoken` = "01" + base64 of
  `{"instanceId": <last __id on the page>}` and continues after that submission by (submission time,
  arrival), whether or not it still exists; `$orderby` together with `$skiptoken` → 501.1; a token that is
  not "01" + base64 JSON → 400.35; a parameter Central does not know → 501.1. Deleted submissions are left
  out unless the filter names `__system/deletedAt`. Rows are stored as Central serves them: groups as nested
  objects, `__system` with `submissionDate` (UTC, milliseconds, Z), `updatedAt`, `deletedAt`, `submitterId`
  (a string), select_multiple as space-separated choice names, numbers typed.
- `GET /v1/projects/{p}/forms/{f}.xml`: the published form definition (an XForm, `application/xml`), with the
  same rights as the feed; the demo's forms are written as pyxform 2 writes a form with a German translation
  (selects as itemsets over secondary instances, labels as itext).
- Problem bodies `{"message", "code", "details"}` with the code a number, as lib/http/endpoint.js writes them.

Quirks on demand: `domain` (Central builds links from its configured DOMAIN, not from the request),
`filter_fields` (what `$filter` may name; older servers know fewer fields), `dangling_next_link` (a nextLink on
the last page, whose page is then empty), `empty_pages` (the next N requests with a `$skiptoken` get an empty
page whose nextLink repeats the request), `lists_deleted`, `expire_sessions()`, `problems` (answer the next
feed requests with these problems) and `faults` (transport failures with Retry-After).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from pipeline.contract.codebook import Codebook
from pipeline.registry import Partner
from pipeline_testkit.emulators.server import DemoService, EmulatorServer, FaultQueue, JsonHandler
from pipeline_testkit.emulators.synthetic import CITY_TIMEZONE, Response, answer_labels, partner_answers

# What `$filter` may name (central-backend lib/data/submission.js, filterableFields): Central answers 200 to each.
FILTER_FIELDS = frozenset(
    {"__system/submissionDate", "__system/updatedAt", "__system/submitterId", "__system/reviewState",
     "__system/deletedAt"}
)  # fmt: skip
# Query parameters Central's OData endpoints accept (lib/http/endpoint.js); any other is 501.1.
KNOWN_PARAMS = frozenset(
    {"$format", "$count", "$skip", "$top", "$filter", "$wkt", "$expand", "$select", "$skiptoken", "$orderby",
     "$search", "viewAs"}
)  # fmt: skip
SESSION_HOURS = 24
_FEED = re.compile(r"^/v1/projects/(\d+)/forms/([^/]+)\.svc/Submissions$")
_FORM_XML = re.compile(r"^/v1/projects/(\d+)/forms/([^/]+)\.xml$")
_TOKEN = re.compile(r"\s*('(?:[^']|'')*'|[^\s']+)")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
}


@dataclass(frozen=True)
class Problem:
    """An error as Central answers it: HTTP status, a numeric problem code, a message and optional details."""

    status: int
    code: float
    message: str
    details: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


AUTHENTICATION_FAILED = Problem(401, 401.2, "Could not authenticate with the provided credentials.")
INSUFFICIENT_RIGHTS = Problem(
    403, 403.1, "The authentication you provided does not have rights to perform that action."
)
NOT_FOUND = Problem(404, 404.1, "Could not find the resource you were looking for.")
INVALID_SKIPTOKEN = Problem(400, 400.35, "Invalid $skiptoken")


def not_implemented(feature: str) -> Problem:
    return Problem(
        501, 501.1, f"The requested feature {feature} is not supported by this server.", {"feature": feature}
    )


ORDERBY_WITH_SKIPTOKEN = not_implemented("using $orderby and $skiptoken together")


def unsupported_field(text: str, at: int) -> Problem:
    return Problem(
        501,
        501.5,
        f"The given OData filter expression references fields not supported by this server: {text} at {at}",
        {"at": at, "text": text},
    )


def unparseable_filter(reason: str) -> Problem:
    return Problem(
        400, 400.18, f"The OData filter expression you provided could not be parsed: {reason}", {"reason": reason}
    )


class ProblemError(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


@dataclass
class Form:
    readers: set[str]
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # __id → row, in arrival order
    arrival: dict[str, int] = field(default_factory=dict)  # __id → Central's internal submission id
    version: int = 0
    xml: str = ""  # the published XForm


@dataclass(frozen=True)
class View:
    """One filtered, ordered listing of a form, kept until the form changes (a pull reads it page by page)."""

    rows: list[dict[str, Any]]
    keys: list[tuple[float, int]]  # ascending keys of the rows in newest-first order, for $skiptoken


class OdkEmulator:
    """The server's state: accounts, forms with their submissions, sessions, quirks and faults to inject."""

    def __init__(self, domain: str | None = None, filter_fields: frozenset[str] = FILTER_FIELDS) -> None:
        self.domain = domain
        self.filter_fields = frozenset(filter_fields)
        self.dangling_next_link = False
        self.empty_pages = 0
        self.lists_deleted = False
        self.users: dict[str, str] = {}
        self.forms: dict[tuple[int, str], Form] = {}
        self.sessions: dict[str, tuple[str, datetime]] = {}
        self.faults = FaultQueue()
        self.problems: deque[Problem] = deque()
        self.requests: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()
        self._arrivals = itertools.count(1)
        self._views: dict[tuple, View] = {}

    def add_user(self, email: str, password: str) -> None:
        with self._lock:
            self.users[email] = password

    def add_form(self, project_id: int, form_id: str, readers: set[str], rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self.forms[(project_id, form_id)] = Form(set(readers))
        self.add_submissions(project_id, form_id, rows)

    def add_submissions(self, project_id: int, form_id: str, rows: list[dict[str, Any]]) -> None:
        """Submissions as Central stores them (each with its __system.submissionDate); a known __id is replaced."""
        with self._lock:
            form = self.forms[(project_id, form_id)]
            for row in rows:
                form.arrival.setdefault(row["__id"], next(self._arrivals))
                form.rows[row["__id"]] = row
            form.version += 1

    def edit(self, project_id: int, form_id: str, instance_id: str, answers: dict[str, Any]) -> dict[str, Any]:
        """Save an edited version, as Central does after an edit in Enketo: answers (keys as group paths)
        change, the submission keeps its __id, gets a new meta/instanceID and updatedAt is now."""
        with self._lock:
            form = self.forms[(project_id, form_id)]
            row = copy.deepcopy(form.rows[instance_id])
            for path, value in answers.items():
                _set_path(row, path, value)
            row["meta"]["deprecatedID"] = row["meta"]["instanceID"]
            row["meta"]["instanceID"] = f"uuid:{uuid.uuid4()}"
            row["__system"].update(
                updatedAt=odata_time(datetime.now(UTC)), edits=row["__system"]["edits"] + 1, reviewState="edited"
            )
            form.rows[instance_id] = row
            form.version += 1
            return row

    def review(self, project_id: int, form_id: str, instance_id: str, state: str | None) -> None:
        """Set a submission's review state ("approved", "hasIssues", "rejected"; None: received), as a reviewer
        does in Central: the answers stay, updatedAt becomes now."""
        with self._lock:
            form = self.forms[(project_id, form_id)]
            row = copy.deepcopy(form.rows[instance_id])
            row["__system"].update(reviewState=state, updatedAt=odata_time(datetime.now(UTC)))
            form.rows[instance_id] = row
            form.version += 1

    def delete(self, project_id: int, form_id: str, instance_id: str) -> None:
        with self._lock:
            form = self.forms[(project_id, form_id)]
            row = copy.deepcopy(form.rows[instance_id])
            row["__system"]["deletedAt"] = odata_time(datetime.now(UTC))
            form.rows[instance_id] = row
            form.version += 1

    def expire_sessions(self) -> None:
        """Every session ends, as after its 24 hours."""
        with self._lock:
            self.sessions.clear()

    def serve(self, port: int = 0) -> EmulatorServer:
        return EmulatorServer(_Handler, self, port).start()

    def login(self, email: Any, password: Any) -> dict[str, str]:
        if not email or not password:
            raise ProblemError(
                Problem(
                    400,
                    400.3,
                    f"Required parameters missing. Expected (email, password), got (email: {email!r}, "
                    f"password: {password!r}).",
                    {"expected": ["email", "password"], "got": {"email": email, "password": password}},
                )
            )
        with self._lock:
            if self.users.get(email) != password:
                raise ProblemError(AUTHENTICATION_FAILED)
            token = secrets.token_urlsafe(48)
            created = datetime.now(UTC)
            expires = created + timedelta(hours=SESSION_HOURS)
            self.sessions[token] = (email, expires)
        return {
            "createdAt": odata_time(created),
            "expiresAt": odata_time(expires),
            "token": token,
            "csrf": secrets.token_urlsafe(48),
        }

    def logout(self, token: str) -> None:
        with self._lock:
            if self.sessions.pop(token, None) is None:
                raise ProblemError(INSUFFICIENT_RIGHTS)

    def reader(self, authorization: str | None) -> str | None:
        """The account behind a Bearer header; None when anonymous."""
        if authorization is None:
            return None
        token = authorization.removeprefix("Bearer ").strip()
        with self._lock:
            email, expires = self.sessions.get(token, ("", datetime.min.replace(tzinfo=UTC)))
        if not authorization.startswith("Bearer ") or expires < datetime.now(UTC):
            raise ProblemError(AUTHENTICATION_FAILED)
        return email

    def listing(self, project_id: int, form_id: str, reader: str | None, params: dict[str, str]) -> dict[str, Any]:
        """The page a Submissions request asks for: rows, count, and the skiptoken of the next page (or None)."""
        with self._lock:
            form = self._readable(project_id, form_id, reader)
            if self.problems:
                raise ProblemError(self.problems.popleft())
            unknown = sorted(set(params) - KNOWN_PARAMS)
            if unknown:
                raise ProblemError(not_implemented(unknown[0]))
            if "$orderby" in params and "$skiptoken" in params:
                raise ProblemError(ORDERBY_WITH_SKIPTOKEN)
            view = self._view(form, params.get("$filter"), params.get("$orderby"))
            start = _start(form, view, params)
            if self.empty_pages and "$skiptoken" in params:
                self.empty_pages -= 1
                return {"rows": [], "count": len(view.rows), "skiptoken": params["$skiptoken"]}
        top = _int(params.get("$top"))
        rows = view.rows[start : start + top] if top is not None else view.rows[start:]
        remaining = len(view.rows) - start - len(rows)
        token = None
        if rows and (remaining > 0 or self.dangling_next_link):
            token = skiptoken(rows[-1]["__id"])
        elif not rows and self.dangling_next_link:
            token = params.get("$skiptoken")
        return {"rows": rows, "count": len(view.rows), "skiptoken": token}

    def form_xml(self, project_id: int, form_id: str, reader: str | None) -> str:
        """The published XForm of a form the reader may read."""
        with self._lock:
            return self._readable(project_id, form_id, reader).xml

    def _readable(self, project_id: int, form_id: str, reader: str | None) -> Form:
        """The form, when it exists and the reader has a role on it (called holding the lock)."""
        form = self.forms.get((project_id, form_id))
        if form is None:
            raise ProblemError(NOT_FOUND)
        if reader is None or reader not in form.readers:
            raise ProblemError(INSUFFICIENT_RIGHTS)
        return form

    def _view(self, form: Form, expression: str | None, orderby: str | None) -> View:
        key = (id(form), form.version, expression, orderby, self.lists_deleted)
        view = self._views.get(key)
        if view is None:
            matches = _parse_filter(expression, self.filter_fields) if expression else (lambda _row: True)
            keep_deleted = self.lists_deleted or "__system/deletedAt" in (expression or "")
            rows = [
                row
                for row in form.rows.values()
                if (keep_deleted or row["__system"].get("deletedAt") is None) and matches(row)
            ]
            rows.sort(key=lambda row: _order_key(form, row))
            if orderby:
                for name, descending in reversed(_parse_orderby(orderby, self.filter_fields)):
                    rows.sort(key=lambda row, n=name: (_value(row, n) is not None, _value(row, n)), reverse=descending)
            view = View(rows, [_order_key(form, row) for row in rows])
            self._views = {key: view}
        return view


def skiptoken(instance_id: str) -> str:
    """Central's paging token (lib/util/db.js QueryOptions.getSkiptoken): version "01", then base64 JSON."""
    data = json.dumps({"instanceId": instance_id}, separators=(",", ":")).encode("utf-8")
    return "01" + base64.b64encode(data).decode("ascii")


def odata_time(moment: datetime) -> str:
    """A UTC time as Central writes it (JavaScript's toISOString): milliseconds and Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _order_key(form: Form, row: dict[str, Any]) -> tuple[float, int]:
    """Ascending in newest-first order: later submission time first, then later arrival first."""
    submitted = _timestamp(row["__system"]["submissionDate"])
    return (-submitted.timestamp(), -form.arrival[row["__id"]])


def _start(form: Form, view: View, params: dict[str, str]) -> int:
    token = params.get("$skiptoken")
    if token is None:
        return max(_int(params.get("$skip")) or 0, 0)
    try:
        if not token.startswith("01"):
            raise ValueError(token)
        instance_id = json.loads(base64.b64decode(token[2:], validate=True))["instanceId"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ProblemError(INVALID_SKIPTOKEN) from exc
    after = form.rows.get(instance_id)
    if after is None:
        return len(view.rows)  # Central joins on the token's submission: without it, nothing follows
    return bisect.bisect_right(view.keys, _order_key(form, after))


def _int(text: str | None) -> int | None:
    try:
        return max(int(text), 0) if text is not None else None
    except ValueError:
        return None


def _timestamp(text: str) -> datetime:
    """An OData time or date; one without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _value(row: dict[str, Any], name: str) -> Any:
    value: Any = row
    for part in name.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str) and name.startswith("__system/") and name.endswith(("Date", "At")):
        return _timestamp(value)
    return value


def _parse_filter(expression: str, fields: frozenset[str]) -> Callable[[dict[str, Any]], bool]:
    """Comparisons joined by `and` (binding tighter) and `or`, as a predicate over rows."""
    matches = list(_TOKEN.finditer(expression))
    if "".join(m.group(0) for m in matches) != expression.rstrip():
        raise ProblemError(unparseable_filter(f"unexpected character in {expression!r}"))
    tokens = [(m.group(1), m.start(1)) for m in matches]
    disjuncts: list[list[Callable[[dict[str, Any]], bool]]] = [[]]
    position = 0
    while position < len(tokens):
        if position + 3 > len(tokens):
            raise ProblemError(unparseable_filter(f"incomplete comparison at {tokens[position][1]}"))
        (name, at), (op, _), (literal, _) = tokens[position : position + 3]
        if name not in fields:
            raise ProblemError(unsupported_field(name, at))
        if op not in _COMPARE:
            raise ProblemError(unparseable_filter(f"unknown operator {op!r}"))
        disjuncts[-1].append(_comparison(name, _COMPARE[op], _literal(literal)))
        position += 3
        if position < len(tokens):
            joiner = tokens[position][0]
            if joiner not in ("and", "or"):
                raise ProblemError(unparseable_filter(f"expected and/or at {tokens[position][1]}"))
            if joiner == "or":
                disjuncts.append([])
            position += 1
            if position == len(tokens):
                raise ProblemError(unparseable_filter("expression ends after " + joiner))
    return lambda row: any(all(test(row) for test in conjunct) for conjunct in disjuncts)


def _comparison(name: str, compare: Callable[[Any, Any], bool], literal: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda row: compare(_value(row, name), literal)


def _literal(text: str) -> Any:
    if text == "null":
        return None
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    try:
        return _timestamp(text)
    except ValueError as exc:
        raise ProblemError(unparseable_filter(f"not a literal: {text!r}")) from exc


def _parse_orderby(expression: str, fields: frozenset[str]) -> list[tuple[str, bool]]:
    order = []
    for clause in expression.split(","):
        name, _, direction = clause.strip().partition(" ")
        if name not in fields or direction.strip().lower() not in ("", "asc", "desc"):
            raise ProblemError(unsupported_field(clause.strip(), expression.find(clause.strip())))
        order.append((name, direction.strip().lower() == "desc"))
    return order


def _set_path(row: dict[str, Any], path: str, value: Any) -> None:
    *groups, name = path.split("/")
    node = row
    for group in groups:
        node = node.setdefault(group, {})
    node[name] = value


class _Handler(JsonHandler):
    def do_POST(self) -> None:  # noqa: N802
        # Read the body first, also when failing: left unread, it would be taken for the next request.
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self._fault():
            return
        if urlsplit(self.path).path != "/v1/sessions":
            return self._problem(NOT_FOUND)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._problem(Problem(400, 400.1, f"Could not parse the given data ({len(raw)} chars) as json."))
        body = body if isinstance(body, dict) else {}
        try:
            self.send_json(200, self.state.login(body.get("email"), body.get("password")))
        except ProblemError as exc:
            self._problem(exc.problem)

    def do_DELETE(self) -> None:  # noqa: N802
        if self._fault():
            return
        segments = urlsplit(self.path).path.split("/")
        if segments[:3] != ["", "v1", "sessions"] or len(segments) != 4:
            return self._problem(NOT_FOUND)
        try:
            self.state.logout(unquote(segments[3]))
        except ProblemError as exc:
            return self._problem(exc.problem)
        self.send_json(200, {"success": True})

    def do_GET(self) -> None:  # noqa: N802
        if self._fault():
            return
        parts = urlsplit(self.path)
        definition = _FORM_XML.match(parts.path)
        if definition is not None:
            return self._form_xml(int(definition.group(1)), unquote(definition.group(2)))
        match = _FEED.match(parts.path)
        if match is None:
            return self._problem(NOT_FOUND)
        project_id, form_id = int(match.group(1)), unquote(match.group(2))
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(pairs)
        try:
            reader = self.state.reader(self.headers.get("Authorization"))
            page = self.state.listing(project_id, form_id, reader, params)
        except ProblemError as exc:
            return self._problem(exc.problem)
        origin = self.state.domain or f"http://{self.headers.get('Host')}"
        body: dict[str, Any] = {
            "value": page["rows"],
            "@odata.context": f"{origin}{parts.path.removesuffix('/Submissions')}/$metadata#Submissions",
        }
        if page["skiptoken"]:
            query = [(k, v) for k, v in pairs if k not in ("$skip", "$skiptoken")] + [("$skiptoken", page["skiptoken"])]
            body["@odata.nextLink"] = f"{origin}{parts.path}?{urlencode(query)}"
        if params.get("$count") == "true":
            body["@odata.count"] = page["count"]
        self.send_json(200, body)

    def _form_xml(self, project_id: int, form_id: str) -> None:
        try:
            xml = self.state.form_xml(project_id, form_id, self.state.reader(self.headers.get("Authorization")))
        except ProblemError as exc:
            return self._problem(exc.problem)
        data = xml.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @property
    def state(self) -> OdkEmulator:
        return self.server.state  # type: ignore[attr-defined]

    def _fault(self) -> bool:
        self.state.requests.append((time.monotonic(), self.command, self.path))
        fault = self.state.faults.next()
        if fault:
            self.send_fault(fault)
        return fault is not None

    def _problem(self, problem: Problem) -> None:
        self.send_json(problem.status, problem.body())


def submission(partner: Partner, codebook: Codebook, response: Response) -> dict[str, Any]:
    """A generated response as Central serves it: the partner's answers nested in their groups, Central's
    __system block, Collect's start/end in local time, and what the pipeline must drop: the app user's name
    and id, the device id, a contact e-mail and a geopoint."""
    instance_id = f"uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'odk/{partner.id}/{response.id}')}"
    submitted = response.submitted_at.replace(tzinfo=UTC)
    local = ZoneInfo(CITY_TIMEZONE)
    row: dict[str, Any] = {
        "__id": instance_id,
        "__system": {
            "submissionDate": odata_time(submitted),
            "updatedAt": None,
            "deletedAt": None,
            "submitterId": str(40 + response.id % 3),
            "submitterName": f"Tablet Beratungsstelle {response.id % 3 + 1}",
            "attachmentsPresent": 0,
            "attachmentsExpected": 0,
            "status": None,
            "reviewState": None,
            "deviceId": f"collect:{uuid.uuid5(uuid.NAMESPACE_URL, str(response.id % 3)).hex[:16]}",
            "edits": 0,
            "formVersion": f"{response.wave}-1",
        },
        "meta": {"instanceID": instance_id},
        "start": (submitted - timedelta(minutes=17)).astimezone(local).isoformat(timespec="milliseconds"),
        "end": (submitted - timedelta(seconds=12)).astimezone(local).isoformat(timespec="milliseconds"),
    }
    for path in partner.mapping:  # Collect submits every question of the form: an unanswered one is null
        _set_path(row, path, None)
    for path, value in partner_answers(partner, codebook, response).items():
        _set_path(row, path, value)
    _set_path(row, "kontakt/email", response.contact["email"])
    row["standort"] = {"type": "Point", "coordinates": [8.4352, 49.4811, 96.0], "properties": {"accuracy": 4.8}}
    return row


def xform(form_id: str, labels: dict[str, dict[str, str]], lang: str = "German (de)") -> str:
    """A form with a select_one per question path (question path → choice name → label), written as pyxform 2
    writes it: the primary instance nested by group, a secondary instance per choice list, labels as itext."""
    tree: dict[str, Any] = {}
    for path in labels:
        node = tree
        for part in path.split("/"):
            node = node.setdefault(part, {})

    def elements(node: dict[str, Any]) -> str:
        return "".join(f"<{name}>{elements(child)}</{name}>" if child else f"<{name}/>" for name, child in node.items())

    texts, lists, body = [], [], []
    for n, (path, choices) in enumerate(labels.items()):
        items = []
        for i, (code, label) in enumerate(choices.items()):
            texts.append(f'<text id="liste_{n}-{i}"><value>{escape(label)}</value></text>')
            items.append(f"<item><itextId>liste_{n}-{i}</itextId><name>{escape(code)}</name></item>")
        lists.append(f'<instance id="liste_{n}"><root>{"".join(items)}</root></instance>')
        body.append(
            f'<select1 ref="/data/{path}"><label>{escape(path)}</label>'
            f'<itemset nodeset="instance(\'liste_{n}\')/root/item"><value ref="name"/>'
            '<label ref="jr:itext(itextId)"/></itemset></select1>'
        )
    return (
        '<?xml version="1.0"?>\n<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" '
        'xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms"><h:head><h:title>'
        f'{escape(form_id)}</h:title><model><itext><translation lang="{escape(lang)}" default="true()">'
        f'{"".join(texts)}</translation></itext><instance><data id="{escape(form_id)}" version="1">'
        f"{elements(tree)}<meta><instanceID/></meta></data></instance>{''.join(lists)}</model></h:head>"
        f"<h:body>{''.join(body)}</h:body></h:html>"
    )


def serve_demo(codebook: Codebook, partners: list[tuple[Partner, list[Response]]], workdir: Path) -> DemoService:
    """One Central for all ODK partners: an account with a fresh password and a form with its submissions each."""
    emulator = OdkEmulator()
    service = DemoService(emulator=emulator)
    for partner, generated in partners:
        password = secrets.token_urlsafe(18)
        service.served[partner.id] = [submission(partner, codebook, r) for r in generated]
        service.env[partner.secret_env] = password
        config = partner.connector
        emulator.add_user(config.email, password)
        emulator.add_form(config.project_id, config.form_id, {config.email}, service.served[partner.id])
        emulator.forms[(config.project_id, config.form_id)].xml = xform(
            config.form_id, answer_labels(partner, codebook)
        )
    service.server = emulator.serve()
    service.overrides = {partner.id: {"base_url": service.server.url} for partner, _ in partners}
    return service
