"""The application: the `pipeline` command and the Prefect flows, thin wrappers over the library `pipeline` that add
retries, schedules, triggers, run reports and failure states."""
