-- Quarantine lists open problems: once a version of a response loads, earlier rejections of it are settled
-- (raw keeps every version, and ops.runs the counts of the runs that rejected them).
delete from ops.quarantine
where partner_id = $partner_id
    and source_id in (select source_id from valid_responses)
