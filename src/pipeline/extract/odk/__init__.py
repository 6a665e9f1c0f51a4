"""ODK Central connector: the OData Submissions feed of one form, pulled incrementally by submission and edit time.

API: `POST {base}/v1/sessions {"email", "password"}` gives a bearer token (valid 24 h; the password is the
partner's secret, the e-mail is in the registry); then `GET {base}/v1/projects/{project_id}/forms/{form_id}.svc/
Submissions?$top=N&$count=true` with `Authorization: Bearer <token>`. Pages chain by `@odata.nextLink` (an opaque
`$skiptoken`), followed only to base_url's origin, never twice after a page with rows, until a page carries none. An
empty page with a link is followed too while fewer rows were read than `@odata.count` (a few such pages in a row,
then the pull fails and stores no cursor); after the last row it ends the pull. `$orderby` is never sent: Central
refuses it together with `$skiptoken` (501.1). A 401 during the pull (the session ended) logs in again, once; the
session is ended when the pull ends. Central's errors are JSON `{"code": 401.2, "message", "details"}` with a
numeric code: each becomes a PartnerError (PartnerUnreachable if it persisted through the retries) naming the
partner, quoting code and message and saying what to check.

Cursor: Central lists newest first, so the cursor (the latest `__system/submissionDate` or `updatedAt` seen) goes
with the last page only and every other Page.cursor is None: an interrupted pull starts again from the previous
cursor, and what it reads again counts as unchanged. The cursor never passes the moment the pull began by the
server's clock (the first page's Date header): an edit saved during the pull to a submission already read has an
updatedAt below later pages' times and is only caught that way. Incremental pulls ask for
`__system/submissionDate ge T or __system/updatedAt ge T`: `ge` (not `gt`) re-reads the submissions at the cursor
(unchanged), so none saved in the same millisecond is missed, and edited ones come back. Times carry Z (UTC).

Rows: groups are nested objects, flattened inside DuckDB to "group/question" keys (as Kobo and ODK's own exports
name them) in the order served; numbers and booleans become strings, select_multiple stays Central's
space-separated string, a GeoJSON value (geopoint, geotrace, geoshape) is geolocation and is dropped whole, empty
groups vanish, and repeat groups appear only as their `...@odata.navigationLink` (repeats are not pulled).
`__id` is the response id (it survives edits), `__system/submissionDate` the submission time. Direct identifiers
(`__system/submitterId`, `submitterName`, `deviceId`, names, e-mails, the partner's identifier_fields) are removed.
An edited submission comes back with `updatedAt` set and new content: a new version, "updated" downstream, the
latest wins. Central holds only finalised submissions (drafts stay on the device): nothing is incomplete.
Submissions marked deleted (Central lists them only when a filter names `__system/deletedAt`, which this
connector never sends) and encrypted ones Central could not decrypt (`__system/status` set) hold no answers to
load: they are logged as a warning with their ids and not loaded, and one loaded earlier stays in core until the
operator removes it. A deletion is seen by the full read every `reread_days` (default 7): what Central no longer
lists is reported as gone at the partner (run report, `pipeline status`), as for Kobo and LimeSurvey.

Answer labels (`pipeline check --connect`): `GET {base}/v1/projects/{project_id}/forms/{form_id}.xml`, the
published XForm, read by extract/odk/xform.py.

Review states: a submission a reviewer marked "rejected" (`__system/reviewState`) is not loaded unless the
registry says `include_rejected: true`; its id goes with the page (Page.rejected), so one loaded earlier leaves
core, counted with the gone ones, and is kept out of rebuilds until Central lists it unrejected again. The
connector asks for rejected submissions too (no `$filter` on the review state): a review sets `updatedAt`, so the
incremental pull sees a rejection of a submission loaded earlier. A review alone changes `reviewState` and
`updatedAt` only (volatile_fields): the loader compares versions without them, so it is no new version.
"""

from pipeline.extract.odk.client import OdkConnector
from pipeline.extract.odk.settings import OdkSettings

__all__ = ["OdkConnector", "OdkSettings"]
