-- reads: field_results (published table, made by pipeline.publish.publication),
--     item_results (published table, made by pipeline.publish.publication)
-- writes: needs_ranking
-- Needs for action: the weakest results first, ranked from published means only. A hidden mean never takes
-- part, so no rank can give it away. Items: the ten weakest per wave and organisation type; Handlungsfelder:
-- all of them. Runs inside a release's own DuckDB file, over its published tables.
create table needs_ranking as
with items as (
    select
        wave,
        wave_label,
        org_type,
        org_type_label,
        'item' as level,
        item_code as code,
        item_label as label,
        field_code,
        field_label,
        mean,
        top2_share,
        n_valid
    from item_results
    where mean_status = ''
),

fields as (
    select
        wave,
        wave_label,
        org_type,
        org_type_label,
        'handlungsfeld' as level,
        field_code as code,
        field_label as label,
        field_code,
        field_label,
        mean,
        top2_share,
        n_valid
    from field_results
    where level = 'handlungsfeld' and mean_status = ''
),

ranked as (
    select
        *,
        row_number() over (
            partition by wave, org_type, level
            order by mean, top2_share nulls last, code
        ) as rank
    from (select * from items union all select * from fields)
)

select
    wave,
    wave_label,
    org_type,
    org_type_label,
    level,
    rank,
    code,
    label,
    field_code,
    field_label,
    mean,
    top2_share,
    n_valid
from ranked
where level = 'handlungsfeld' or rank <= 10
order by wave, org_type, level desc, rank
