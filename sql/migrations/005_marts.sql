-- Marts: aggregates for the steering group, rebuilt by the transforms in sql/marts/ after every load.

create schema marts;
