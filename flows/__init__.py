"""Prefect flows: thin wrappers over src/pipeline that add retries, run reports and failure states."""
