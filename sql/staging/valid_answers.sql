-- reads: batch_answers (staging/map_answers), valid_responses (registered by pipeline.load.loader)
-- writes: valid_answers
-- The valid responses' answers as staging and core keep them: one row per item answered, a code or a text, and
-- per option ticked of a multiple choice (an option ticked twice is one answer). A multiple choice shown and left
-- unticked is one row without a code: answered, with no option.
create or replace temp table valid_answers as
with valid as (
    select batch_answers.*
    from batch_answers
    semi join valid_responses on valid_responses.record_id = batch_answers.record_id
    where batch_answers.item_type is not null
)

select
    record_id,
    item_code,
    case when item_type <> 'text' then value end as answer_code,
    case when item_type = 'text' then value end as answer_text
from valid
where item_type <> 'multi'
union all
select
    record_id,
    item_code,
    unnest(if(cardinality(options) = 0, [null::varchar], list_distinct(options))) as answer_code,
    null::varchar as answer_text
from valid
where item_type = 'multi'
