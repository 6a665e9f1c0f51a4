"""The JSON-RPC side of LimeSurvey: a session, exports of id ranges page by page, and the answer options."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import requests

from pipeline.errors import PartnerError, PayloadError
from pipeline.extract import FormLabels, Page, http, json_records
from pipeline.extract.limesurvey.records import export_records
from pipeline.extract.limesurvey.settings import LimeSurveySettings

if TYPE_CHECKING:
    from pipeline.settings import Settings

# Columns of the survey table that are not questions (timings only where the survey saves them); token and
# ipaddr are not among them because they never get that far: they are removed at extraction.
METADATA_FIELDS = frozenset(
    {
        "id", "submitdate", "lastpage", "startlanguage", "seed", "startdate", "datestamp",
        "interviewtime",
    }
)  # fmt: skip
# Metadata that may identify a person without being named so: removed at extraction with the identifiers.
DROPPED_METADATA = ("refurl",)
NO_RESPONSES = "no data, could not get max id."
# Question types whose answers are answer options: lists (L ! O), arrays (F H 1) and ranking (R).
OPTION_TYPES = frozenset("L!OFH1R")
MAX_RANGES = 10_000  # per pull: far more than any survey needs, so only a misbehaving server reaches it
_log = logging.getLogger("pipeline.extract.limesurvey")  # the package's name, as before it was split


class LimeSurveyConnector:
    metadata_fields = METADATA_FIELDS
    omits_unanswered = False  # every column of the survey table, "" or null when unanswered

    def __init__(
        self,
        partner_id: str,
        config: LimeSurveySettings,
        password: str,
        settings: Settings,
        drop: tuple[str, ...],
        until: float | None = None,
    ) -> None:
        self.partner_id = partner_id
        self.config = config
        self.naive_timezone = config.timezone
        self._password = password
        self._session = http.session(partner_id, settings, until)
        self._drop = (*drop, *DROPPED_METADATA)
        self._url = config.base_url.rstrip("/") + config.endpoint
        self._key: str | None = None
        self._request_id = 0

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Pages of complete responses from the cursor's id on (from the first when None), range by range."""
        start = _from_id(self.partner_id, cursor)
        self._key = self._login()
        duck = json_records.scratch()
        try:
            yield from self._ranges(duck, start)
        finally:
            duck.close()
            self._release()

    def loaded(self, pages: list[Page]) -> None:
        """Nothing to do: the cursor, stored with the pages, is all LimeSurvey needs."""

    def form_labels(self) -> FormLabels:
        """The survey's answer options, in connector.language (else the survey's base language)."""
        self._key = self._login()
        try:
            return FormLabels(f"survey {self.config.survey_id}", self._answer_options())
        finally:
            self._release()

    def _answer_options(self) -> dict[str, dict[str, str]]:
        _, questions = self._keyed("list_questions", self.config.survey_id, None, self.config.language)
        status = _status(questions)
        if status == "No questions found":
            return {}
        if status is not None:
            raise self._status_error("list_questions", status)
        if not isinstance(questions, list):
            raise PayloadError(self.partner_id, "list_questions answered no list of questions")
        subquestions: dict[str, list[str]] = {}
        for row in questions:
            subquestions.setdefault(str(row.get("parent_qid")), []).append(str(row.get("title")))
        answers: dict[str, dict[str, str]] = {}
        for row in questions:
            if str(row.get("parent_qid")) != "0" or row.get("type") not in OPTION_TYPES:
                continue
            title, labels = str(row.get("title")), self._options_of(row.get("qid"))
            answers[title] = labels
            answers.update({f"{title}[{sub}]": labels for sub in subquestions.get(str(row.get("qid")), [])})
        return answers

    def _options_of(self, qid: object) -> dict[str, str]:
        """Code → label of one question's answer options in the order shown (of its first scale: a dual scale's
        second is left)."""
        _, properties = self._keyed("get_question_properties", qid, ["title", "answeroptions"], self.config.language)
        status = _status(properties)
        if status is not None:
            raise self._status_error("get_question_properties", status)
        options = properties.get("answeroptions") if isinstance(properties, dict) else None
        if not isinstance(options, dict):
            return {}
        shown = sorted(
            (option.get("order", 0), str(code), str(option.get("answer") or ""))
            for code, option in options.items()
            if isinstance(option, dict) and str(option.get("scale_id", 0)) == "0"
        )
        return {code: label for _, code, label in shown}

    def _ranges(self, duck: duckdb.DuckDBPyConnection, start: int) -> Iterator[Page]:
        lowest_incomplete: int | None = None
        after_complete = start
        for _ in range(MAX_RANGES):
            end = start + self.config.ids_per_page - 1
            exported = self._export(start, end, "complete")
            if exported is None:
                return
            body, export = exported
            records = export_records(duck, self.partner_id, export, self._drop)
            ids = self._ids_within(records.column("source_id"), start, end)
            incomplete = self._ids(duck, start, end, "incomplete")
            if len(ids):
                after_complete = max(after_complete, pc.max(ids).as_py() + 1)
            if lowest_incomplete is None and len(incomplete):
                lowest_incomplete = pc.min(incomplete).as_py()
            cursor = json.dumps({"from_id": after_complete if lowest_incomplete is None else lowest_incomplete})
            yield Page(self._request(start, end), body, records, cursor)
            if len(ids) or len(incomplete):
                start = end + 1
                continue
            beyond = self._ids(duck, end + 1, None, "all")
            if not len(beyond):
                return
            start = pc.min(beyond).as_py()
        raise PayloadError(
            self.partner_id,
            f"more than {MAX_RANGES} id ranges in one pull: raise connector.ids_per_page, or check that survey "
            f"{self.config.survey_id}'s response ids are what LimeSurvey reports",
        )

    def _request(self, start: int, end: int) -> str:
        """What a page was, for raw.pages: the endpoint and the call, never the session key."""
        survey = self.config.survey_id
        return f"{http.redact(self._url)} export_responses(survey {survey}, json, complete, ids {start}-{end})"

    def _export(
        self, start: int, end: int | None, completion: str, fields: list[str] | None = None
    ) -> tuple[bytes, bytes] | None:
        """The HTTP body and the decoded export of one id range; None when the survey has no response at all."""
        body, result = self._keyed(
            "export_responses",
            self.config.survey_id, "json", self.config.language, completion, "code", "short", start, end, fields,
        )  # fmt: skip
        status = _status(result)
        if status is not None:
            if status.lower() == NO_RESPONSES:
                return None
            raise self._status_error("export_responses", status)
        try:
            return body, base64.b64decode(result, validate=True)  # type: ignore[arg-type]
        except (binascii.Error, TypeError, ValueError) as exc:
            raise PayloadError(
                self.partner_id, f"export_responses for ids {_span(start, end)} is not the base64 export expected"
            ) from exc

    def _ids(self, duck: duckdb.DuckDBPyConnection, start: int, end: int | None, completion: str) -> pa.Array:
        """Ids of the responses of one completion state in a range (to the last id when end is None), asking
        for the id column alone."""
        exported = self._export(start, end, completion, ["id"])
        if exported is None:
            return pa.array([], pa.int64())
        ids = export_records(duck, self.partner_id, exported[1], ()).column("source_id")
        return self._ids_within(ids, start, end)

    def _ids_within(self, source_ids: pa.ChunkedArray, start: int, end: int | None) -> pa.Array:
        try:
            ids = pc.cast(source_ids, pa.int64()).combine_chunks()
        except pa.ArrowInvalid as exc:
            raise PayloadError(
                self.partner_id, f"export for ids {_span(start, end)} holds an id that is no number"
            ) from exc
        low, high = pc.min_max(ids).values()
        if len(ids) and (low.as_py() < start or (end is not None and high.as_py() > end)):
            raise PayloadError(
                self.partner_id,
                f"asked for ids {_span(start, end)}, LimeSurvey sent ids {low}-{high}: the server ignores the id range",
            )
        return ids

    def _login(self) -> str:
        _, result = self._call("get_session_key", self.config.username, self._password)
        if isinstance(result, str) and result:
            return result
        status = _status(result)
        if status == "Invalid user name or password":
            raise PartnerError(
                self.partner_id,
                f"LimeSurvey rejected the credentials of user {self.config.username!r} ({status}): check "
                "connector.username in the registry and the password in the partner's secret variable",
            )
        raise PartnerError(
            self.partner_id, f"LimeSurvey refused to log in user {self.config.username!r}: {status or result!r}"
        )

    def _release(self) -> None:
        """Close the session; a failure here must not hide the pull's own outcome (the key expires anyway)."""
        if self._key is None:
            return
        key, self._key = self._key, None
        try:
            self._call("release_session_key", key)
        except PartnerError as exc:
            _log.warning("%s (the session key could not be released; it expires on the server by itself)", exc)

    def _keyed(self, method: str, *params: object) -> tuple[bytes, Any]:
        """A call under the session key; an expired key leads to one new login and one more try."""
        body, result = self._call(method, self._key, *params)
        if not _session_expired(result):
            return body, result
        self._key = self._login()
        body, result = self._call(method, self._key, *params)
        if _session_expired(result):
            raise PartnerError(
                self.partner_id,
                f"RemoteControl {method}: LimeSurvey rejected the session key again right after a new login "
                f"({_status(result)}): check the server's session settings (iSessionExpirationTime)",
            )
        return body, result

    def _call(self, method: str, *params: object) -> tuple[bytes, Any]:
        """One JSON-RPC call: the HTTP body as received, and the envelope's result."""
        self._request_id += 1
        response = self._post(method, {"method": method, "params": list(params), "id": self._request_id})
        envelope = self._envelope(method, response)
        if envelope["error"] is not None:
            raise PartnerError(
                self.partner_id,
                f"RemoteControl {method} failed with the JSON-RPC error {str(envelope['error'])[:200]!r}: check "
                f"connector.endpoint and that this LimeSurvey version offers {method}",
            )
        return response.content, envelope["result"]

    def _post(self, method: str, payload: dict[str, Any]) -> requests.Response:
        where = f"RemoteControl {method}: POST {http.redact(self._url)}"
        response = self._session.post(self._url, json=payload, where=where)
        if response.status_code == 500 and _is_html(response):
            raise PartnerError(
                self.partner_id,
                f"{where} answered HTTP 500 with an HTML error page: this LimeSurvey does not know the method "
                "or failed on it; see the server's error log and its version",
            )
        if response.status_code == 404:
            raise PartnerError(
                self.partner_id,
                f"{where} answered HTTP 404: connector.base_url and connector.endpoint do not lead to LimeSurvey's "
                "RemoteControl (without URL rewriting it is /index.php?r=admin/remotecontrol)",
            )
        return http.check(self.partner_id, response)

    def _envelope(self, method: str, response: requests.Response) -> dict[str, Any]:
        """The JSON-RPC envelope; anything else (an empty body, an HTML page) is an error saying why."""
        where = f"RemoteControl {method}: POST {http.redact(self._url)} answered HTTP {response.status_code}"
        if not response.content.strip():
            raise PartnerError(
                self.partner_id,
                f"{where} with an empty body: the JSON-RPC interface is probably switched off (LimeSurvey: "
                "Configuration > Global settings > Interfaces > RPC interface enabled: JSON-RPC)",
            )
        try:
            envelope = json.loads(response.content)
        except ValueError:
            envelope = None
        if isinstance(envelope, dict) and {"result", "error"} <= envelope.keys():
            return envelope
        if _is_html(response):
            raise PartnerError(
                self.partner_id,
                f"{where} with an HTML page instead of JSON-RPC: the JSON-RPC interface is switched off, or "
                "connector.endpoint is not LimeSurvey's RemoteControl URL",
            )
        raise PartnerError(
            self.partner_id,
            f"{where} with {len(response.content)} bytes that are not a JSON-RPC reply "
            f"({response.headers.get('Content-Type', 'no content type')}): check connector.base_url and endpoint",
        )

    def _status_error(self, method: str, status: str) -> PartnerError:
        survey = self.config.survey_id
        if status in ("No permission", "Error: Invalid survey ID"):
            reason = (
                f"survey {survey} does not exist or user {self.config.username!r} may not export its responses; "
                "check connector.survey_id and the user's permissions on the survey"
            )
        elif status.startswith("No Data, survey table does not exist"):
            reason = f"survey {survey} has no responses table: it is not activated yet, or connector.survey_id is wrong"
        elif status.startswith(("Language code not found", "Error: Invalid language")):
            reason = f"survey {survey} has no language {self.config.language!r}: fix or remove connector.language"
        else:
            reason = f"an application error this connector does not know; see LimeSurvey's documentation of {method}"
        return PartnerError(self.partner_id, f"RemoteControl {method} answered status {status!r}: {reason}")


def _from_id(partner_id: str, cursor: str | None) -> int:
    if cursor is None:
        return 1
    try:
        from_id = json.loads(cursor)["from_id"]
    except (ValueError, TypeError, KeyError):
        from_id = None
    if not isinstance(from_id, int) or isinstance(from_id, bool) or from_id < 1:
        raise PartnerError(
            partner_id,
            f'the stored cursor {cursor[:80]!r} is not LimeSurvey\'s {{"from_id": N}}: if the partner changed '
            "tools, delete its row in ops.cursors to pull everything again",
        )
    return from_id


def _span(start: int, end: int | None) -> str:
    return f"{start}-{end if end is not None else 'last'}"


def _status(result: Any) -> str | None:
    """The `status` of an application error (HTTP 200, error null, result {"status": ...}); None otherwise."""
    if isinstance(result, dict) and isinstance(result.get("status"), str):
        return result["status"]
    return None


def _session_expired(result: Any) -> bool:
    return (_status(result) or "").lower() == "invalid session key"


def _is_html(response: requests.Response) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    return "html" in content_type or response.content.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))
