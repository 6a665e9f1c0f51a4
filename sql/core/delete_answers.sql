-- reads: batch_responses (staging/batch_responses)
-- writes: core.answers
-- The answers of the batch's responses stored before (an updated response): run only when there are such, since
-- it scans every stored answer.
delete from core.answers
where respondent_key in (select respondent_key from batch_responses)
