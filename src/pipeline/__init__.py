"""ChancenCheckLU pipeline: partner survey tools → DuckDB → disclosure-controlled publications."""
