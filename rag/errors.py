"""Domain exceptions: each message says what is wrong. Which command or request puts it right
is the faces' to say (the CLI's message, the API's error body)."""


class RagError(Exception):
    """Base class for errors a user can act on."""


class CorpusError(RagError):
    """The bulletin corpus cannot be read (missing folder, unreadable file, no bulletins)."""


class IndexStateError(RagError):
    """The index on disk is missing, stale, corrupt or cannot be written."""


class StaleRecordsError(IndexStateError):
    """Records of the index that no longer slice out of their files (damaged, or the files changed):
    the index must be rebuilt."""


class SettingsError(RagError):
    """A setting (an ``RAG_*`` variable or the option that overrides it) has an invalid value."""


class QueryError(RagError):
    """The question or its options are invalid."""


class NotFoundError(RagError):
    """A bulletin id that does not exist."""


class UnsupportedFileError(QueryError):
    """A file of a kind the corpus does not read (by its extension)."""
