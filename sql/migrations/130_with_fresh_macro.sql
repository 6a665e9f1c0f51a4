-- The rows of a mart after a build of some waves (pipeline.transform.marts): the table's rows of the waves not
-- rebuilt and the fresh rows of those in marts_waves (a temporary table of the building connection), matched by
-- column name. kept and fresh name the relations.
create or replace macro marts.with_fresh(kept, fresh) as table
from query_table(kept)
anti join marts_waves using (wave)
union all by name
from query_table(fresh);
