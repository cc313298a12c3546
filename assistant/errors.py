"""A small error hierarchy; every message names the problem and the way out."""


class AssistantError(Exception):
    """Base class: entry points print these as one line, without a traceback."""


class ConfigError(AssistantError):
    """A setting has a value the assistant cannot use."""


class CorpusError(AssistantError):
    """The corpus folder is missing, empty, or holds nothing readable."""


class IndexNotReadyError(AssistantError):
    """There is no usable index yet, or it was built with another embedding model."""


class ModelLoadError(AssistantError):
    """The embedding model could not be loaded from disk."""


class IngestBusyError(AssistantError):
    """Another ingest holds the index's ingest lock."""
