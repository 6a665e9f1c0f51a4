-- reads: ref_items (registered by pipeline.load.loader), ref_options (registered by pipeline.load.loader),
--     ref_org_types (registered by pipeline.load.loader), ref_partners (registered by pipeline.load.loader),
--     ref_waves (registered by pipeline.load.loader)
-- writes: core.answer_options, core.items, core.org_types, core.partners, core.waves
-- Labels and structure from the codebook and the registry, replaced whole on every run (registered frames).
delete from core.items;
insert into core.items by name select * from ref_items;
delete from core.answer_options;
insert into core.answer_options by name select * from ref_options;
delete from core.org_types;
insert into core.org_types by name select * from ref_org_types;
delete from core.waves;
insert into core.waves by name select * from ref_waves;
delete from core.partners;
insert into core.partners by name select * from ref_partners;
