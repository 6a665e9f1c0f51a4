-- reads: nothing
-- writes: ops.runs
-- A partner's rows left at running by a process that is gone (checked by the caller): interrupted, with why.
-- finished_at stays empty: when the process ended is not known.
update ops.runs
set
    status = 'interrupted',
    error = $error
where
    partner_id = $partner_id
    and status = 'running'
    and process = $process
