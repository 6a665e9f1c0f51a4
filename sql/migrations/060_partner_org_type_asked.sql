-- A partner that asks each respondent for the organisation type has none of its own: core.partners holds null
-- for it, and core.responses the type each respondent gave.
alter table core.partners alter column org_type drop not null;
