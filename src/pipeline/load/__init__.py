"""Loading: a partner's pulled pages into raw → staging → core, the sources they came from and the runs ledger."""
