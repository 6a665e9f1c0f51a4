-- A Kobo reviewer's validation status, notes and tags are no new version of a submission since 2026-12-06
-- (KoboSettings.volatile_fields): the stored versions of Kobo sources are hashed again without them, as
-- raw/classify_batch hashes incoming ones, so the first run after this neither reloads every submission nor
-- counts it as updated.
update raw.records
set record_sha256 = sha256(
    json_merge_patch(record, '{"_validation_status": null, "_notes": null, "_tags": null}'::json)::varchar
)
where source like 'kobo:%';
