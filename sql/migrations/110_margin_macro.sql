-- The margin over organisation types, the org_type 'insgesamt' every mart has beside the real ones: a relation's
-- rows once as they are and once more under 'insgesamt', so that one plain group by counts each type and their
-- sum. rows names the relation (a CTE of the calling statement, too) by its name; it must have an org_type.
create or replace macro marts.with_margin(rows) as table
select * from query_table(rows)
union all
select * replace ('insgesamt' as org_type) from query_table(rows);
