-- reads: core.items, core.org_types, core.responses, core.waves
-- writes: marts.item_groups, marts.org_types, marts.wave_order, marts.wave_org_types
-- What every mart labels its rows with: the organisation types and their margin 'insgesamt' (the sum over
-- them), and the waves in order with the one before each (and its instrument version, for comparing items).
-- Views, so they follow core without a rebuild and stay out of the analyst file, which copies tables.
create or replace view marts.org_types as
select
    org_type,
    org_type_label
from core.org_types
union all
select
    'insgesamt',
    'Insgesamt';

create or replace view marts.wave_order as
select
    wave,
    wave_label,
    instrument_version,
    lag(wave) over (order by opens, wave) as previous_wave,
    lag(instrument_version) over (order by opens, wave) as previous_version
from core.waves;

-- Every organisation type with responses in a wave, and the margin: the rows every mart has for that wave,
-- answered or not. A row left out where nobody of a type answered would tell the steering group that a small
-- type's few respondents skipped an item (the disclosure control hides such a type's rows, zeros included).
create or replace view marts.wave_org_types as
select distinct
    wave,
    org_type
from core.responses
union all
select distinct
    wave,
    'insgesamt' as org_type
from core.responses;

-- The groups of the item marts: every item of the wave's instrument (free text aside) for each of them.
create or replace view marts.item_groups as
select
    types.wave,
    types.org_type,
    core.items.item_code
from marts.wave_org_types as types
join core.waves on core.waves.wave = types.wave
join core.items on core.items.instrument_version = core.waves.instrument_version
where core.items.item_type <> 'text';
