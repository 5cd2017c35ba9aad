"""Datastore errors: each message names the URL, blob or record at fault so a user can act on it."""

from __future__ import annotations


class UserFacingError(Exception):
    """Base of the errors a user can meet from the layers below the API (the datastore's, the
    scheduler's): the API and the CLI show them as one line, without a traceback. Each layer's
    own base class subclasses it, so a scheduler error is not a datastore error."""


class DatastoreError(UserFacingError):
    """Base class of every error raised by the datastore."""


class DatastoreURLError(DatastoreError):
    """The datastore URL cannot be opened (unknown protocol, missing package, bad bucket...)."""


class DatastoreAccessDenied(DatastoreURLError, PermissionError):
    """The object store rejected the credentials (also a PermissionError, like s3fs's own)."""


class DatastoreBucketMissing(DatastoreURLError, FileNotFoundError):
    """The datastore's bucket does not exist (also a FileNotFoundError, like s3fs's own)."""


class DatastoreUnavailable(DatastoreURLError, ConnectionError):
    """The object store's endpoint cannot be reached or does not answer, or its client failed
    (also an OSError, so callers that handle the backend's own OSErrors still do)."""


class DatastoreNotWritable(DatastoreURLError, OSError):
    """A local datastore folder cannot be written: full disk, read-only file system, no access."""


class InvalidNameError(DatastoreError):
    """A user-chosen name (flow, step, run id, artifact) cannot safely become a path."""


class BlobCorruptError(DatastoreError):
    """A blob's bytes no longer match its content key (``key`` says which blob)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class MissingRecordError(DatastoreError):
    """A run, task or blob that was asked for does not exist."""


class BlobMissingError(MissingRecordError):
    """A blob a record points at does not exist (``key`` says which blob)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class DamagedRecordError(MissingRecordError):
    """A record (run.json, meta.json, a format-1 DONE, a cache entry) exists but cannot be decoded.

    A MissingRecordError on purpose: every caller that copes with a missing record (a task not
    done, a run left out of a listing) copes with a damaged one the same way; the message names
    the file so the user can see what happened."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class ArtifactPickleError(DatastoreError):
    """A value could not be serialised with cloudpickle."""
