-- When each partner's responses were last read in full (a pull from the start, not from the cursor): Kobo and
-- LimeSurvey cannot list what was edited since a time, so an edit below the cursor is only seen then.
create table ops.full_reads (
    partner_id varchar primary key,
    read_at timestamptz not null
);
