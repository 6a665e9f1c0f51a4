"""KoboToolbox API v2 connector: paginated submissions of one asset, pulled incrementally by submission time.

API: GET {base}/api/v2/assets/{uid}/data/?format=json with `Authorization: Token <token>`. Pages come as
{count, next, previous, results}. Pages are read by a stable key, not by `start` offsets: each request asks for
query={"_submission_time": {"$gte": cursor}, "_id": {"$gt": <last _id read>}} sorted by `_id` (Mongo syntax, as
the data endpoint accepts it), so a submission deleted between two page reads cannot shift an unread one out of
reach; `next` only tells whether more follow. `$gte` (not `$gt`) on the time re-reads the responses at the
cursor's second, which the loader then counts as unchanged, so none submitted in the same second as the previous
pull's last one can be missed. Kobo sends submission times in UTC without an offset.

Cursor: the latest submission time read that is a well-formed time no later than the moment the pull began (a
time in the future or one that is no time at all is quarantined downstream and never becomes the cursor, or
every later submission would stay unread). Pages come in `_id` order, which need not be the order of times, so
the cursor goes with the last page only: an interrupted pull starts again from the previous cursor, and what it
reads again counts as unchanged.
An edit (in Enketo) keeps a submission's `_id` and `_submission_time`, and the data API serves no time of the
last change (kpi issue #7259), so every `reread_days` (default 7) a pull reads all submissions again: those
unchanged count as such, an edited one is a new version ("updated").

Review: a submission whose `_validation_status.uid` is `validation_status_not_approved` is the partner's "do not
use" (as ODK Central's rejected review state): its id goes with the page (Page.rejected), not its record, so one
loaded earlier leaves core until it is listed otherwise (unless `include_not_approved`). The validation status,
`_notes` and `_tags` are volatile: a reviewer's annotation is no new version.

Answer labels (`pipeline check --connect`): GET {base}/api/v2/assets/{uid}/ with the same token; its
`content.choices` (list_name, name, label per translation) are the labels of the `select_from_list_name` of
each `content.survey` row, under the row's group path as the data API names it.
"""

from pipeline.extract.kobo.client import KoboConnector
from pipeline.extract.kobo.settings import KoboSettings

__all__ = ["KoboConnector", "KoboSettings"]
