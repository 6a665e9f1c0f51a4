-- reads: core.answer_options (analyst/010_core), core.answers (analyst/040_add_changed),
--     core.items (analyst/010_core), core.org_types (analyst/010_core), core.responses (analyst/040_add_changed),
--     core.waves (analyst/010_core),
--     marts.field_results (marts/040_field_results, copied by pipeline.publish.analyst),
--     marts.item_results (marts/030_item_results, copied by pipeline.publish.analyst)
-- writes: auswertung.antworten, auswertung.handlungsfeld_ergebnisse, auswertung.item_ergebnisse
-- German-labelled views for analysts who think in the questionnaire's words. Run inside the analyst file, on
-- every refresh (a refresh that starts from the previous file finds them there).
create schema if not exists auswertung;

create or replace view auswertung.antworten as
select
    responses.respondent_key as befragten_schluessel,
    waves.wave_label as welle,
    org_types.org_type_label as organisationstyp,
    items.field_label as handlungsfeld,
    items.theme_label as thema,
    answers.item_code as item_code,
    items.item_label as item,
    answers.answer_code as antwort_code,
    answer_options.answer_label as antwort,
    answers.value as wert
from core.answers as answers
join core.responses as responses on responses.respondent_key = answers.respondent_key
join core.waves as waves on waves.wave = responses.wave
join core.org_types as org_types on org_types.org_type = responses.org_type
join core.items as items
    on items.item_code = answers.item_code
    and items.instrument_version = responses.instrument_version
left join core.answer_options as answer_options
    on answer_options.item_code = answers.item_code
    and answer_options.answer_code = answers.answer_code;

create or replace view auswertung.item_ergebnisse as
select
    wave_label as welle,
    org_type_label as organisationstyp,
    field_label as handlungsfeld,
    item_code,
    item_label as item,
    n_answered as anzahl_antwortende,
    n_valid as anzahl_gueltige_skalenwerte,
    mean as mittelwert,
    top2_share as anteil_top2,
    mean_change as veraenderung_mittelwert
from marts.item_results;

create or replace view auswertung.handlungsfeld_ergebnisse as
select
    wave_label as welle,
    org_type_label as organisationstyp,
    field_label as handlungsfeld,
    theme_label as thema,
    n_respondents as anzahl_antwortende,
    n_valid as anzahl_gueltige_skalenwerte,
    mean as mittelwert,
    top2_share as anteil_top2,
    mean_change as veraenderung_mittelwert
from marts.field_results;
