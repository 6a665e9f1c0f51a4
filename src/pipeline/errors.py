"""The project's exceptions: each carries the partner (and where known the response and field) it concerns."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class; the message is the one line an operator reads."""


class ConfigError(PipelineError):
    """The partner registry, the codebook or the settings are invalid."""


class WorkingFileBusy(PipelineError):
    """Another process holds the working DuckDB file open (DuckDB admits one process at a time)."""


class NothingStored(PipelineError):
    """An erasure names a response id that nothing is stored under (a typo, or a response not pulled yet)."""

    def __init__(self, partner_id: str, source_id: str, source: str) -> None:
        self.partner_id, self.source_id, self.source = partner_id, source_id, source
        super().__init__(f"partner {partner_id}: nothing is stored under response id {source_id!r} of {source}")


class PartnerError(PipelineError):
    """A partner's service answered, but with an error we cannot recover from by retrying."""

    def __init__(self, partner_id: str, message: str) -> None:
        self.partner_id = partner_id
        super().__init__(f"partner {partner_id}: {message}")


class PartnerUnreachable(PartnerError):
    """A partner's service could not be reached or kept failing: worth retrying later."""


class PartnerNotConnected(PartnerError):
    """No connection to a partner's server at all (refused, host name unknown): a wrong base_url or a server that is
    down, which retrying within the hour does not mend, so it is not retried."""


class PartnerOutOfTime(PartnerError):
    """The partner's time in this run was used up before its pull ended; the next run goes on from its cursor."""


class PayloadError(PartnerError):
    """A partner sent a payload we cannot parse at all (not one bad row: the page itself)."""


class SqlInputMissing(PipelineError):
    """A SQL file's declared input relation is not in the connection: the module that provides it did not run."""
