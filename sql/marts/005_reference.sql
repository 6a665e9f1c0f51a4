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
