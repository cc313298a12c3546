"""A small error hierarchy; every message names the problem and the way out.

The message is for the operator (command line, server log) and may name folders and hosts;
``public`` is what a web visitor is told instead: it never carries a server path.
"""


class AssistantError(Exception):
    """Base class: entry points print these as one line, without a traceback."""

    public = "the assistant cannot answer right now: please try again in a minute"


class ConfigError(AssistantError):
    """A setting has a value the assistant cannot use; ``problems`` lists each one."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems) or (message,)


class CorpusError(AssistantError):
    """The corpus folder is missing, empty, or holds nothing readable."""


class IndexNotReadyError(AssistantError):
    """There is no usable index yet, or it was built with another embedding model."""

    public = "the clinic's documents are not available right now: please try again later"


class IndexUnreachableError(IndexNotReadyError):
    """The index (a Chroma server, or the folder) did not answer in time or failed."""


class IndexWriteError(AssistantError):
    """A build could not be written (a full disk, a read-only folder, a failing server); the
    build in use is unchanged."""


class ModelLoadError(AssistantError):
    """The embedding model could not be loaded from disk."""


class IngestBusyError(AssistantError):
    """Another ingest holds the index's ingest lock."""
