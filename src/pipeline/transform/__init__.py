"""Transform: core into the marts by the SQL in sql/marts/."""
