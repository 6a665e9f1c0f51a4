-- reads: counted_answers (marts/010_answers_in_scope), marts_waves (registered by pipeline.transform.marts),
--     ops.answers_since_marts
-- writes: free_texts_fresh, marts.free_texts
-- The free-text answers for analysts only (never published), with e-mail addresses, URLs and phone numbers
-- replaced. E-mail goes first, so that an address on a www. host is removed whole, and URLs before phone
-- numbers, so that digits in a path are removed with their URL. The phone patterns are German forms:
-- +49 621 5041234, 0049 621 ..., (0621) 50412, 0621 504-1234, 0621/504-1234; a date or postal code has too
-- few digits after a leading zero to match. Computed for the waves in marts_waves (those whose responses
-- changed): all their texts for a wave built whole, the texts now of the respondents changed (counted_answers
-- with sign +1) for one built from the last build; the other rows are kept.
create or replace temp table free_texts_fresh as
with texts as (
    select
        wave,
        org_type,
        field_code,
        item_code,
        respondent_key,
        answer_text
    from counted_answers
    -- the test on answer_text reaches the scan of core.answers, so only free texts are joined
    where item_type = 'text'
        and answer_text is not null
        and sign = 1
),

without_emails as (
    select
        * replace (
            regexp_replace(
                answer_text, '[\pL\pN._%+-]+@[\pL\pN-]+(\.[\pL\pN-]+)*\.\pL{2,}', '[E-Mail entfernt]', 'g'
            ) as answer_text
        )
    from texts
),

without_urls as (
    select
        * replace (
            -- a URL ends before trailing punctuation, which belongs to the sentence
            regexp_replace(
                answer_text, '(https?://|www\.)[^\s<>"\[\]]*[^\s<>"\[\].,;:!?)]', '[URL entfernt]', 'gi'
            ) as answer_text
        )
    from without_emails
),

without_phones as (
    select
        * replace (
            regexp_replace(
                answer_text,
                '(\+|\b00)\d{1,3}[\s/-]?(\(0\)\s?)?\d{1,5}([\s/-]?\d{1,8}){1,4}'
                || '|\(0\d{1,5}\)\s?\d{2,8}([\s-]?\d{1,8}){0,3}'
                || '|\b0\d{2,5}\s?[/-]?\s?\d{3,8}([\s-]?\d{1,8}){0,3}',
                '[Telefon entfernt]',
                'g'
            ) as answer_text
        )
    from without_urls
)

select * from without_phones;

create table if not exists marts.free_texts as from free_texts_fresh with no data;

-- in place, since the table holds a row per text (a million at 1M responses) and a build from the changes
-- brings a few: a wave built whole loses all its rows, one built from the last build those of the respondents
-- changed; the rows come in no particular order
delete from marts.free_texts
where wave in (select wave from marts_waves where whole)
    or (
        wave in (select wave from marts_waves)
        and respondent_key in (select respondent_key from ops.answers_since_marts)
    );

insert into marts.free_texts by name
from free_texts_fresh
order by
    wave,
    org_type,
    field_code,
    item_code,
    respondent_key
