"""Every exception docchat raises, in one tree.

    DocchatError
    ├── NotFound
    │   ├── SessionNotFound
    │   ├── DocumentNotFound
    │   ├── CollectionNotFound
    │   ├── PageNotFound
    │   ├── OriginalNotStored
    │   ├── TaskNotFound
    │   ├── UserNotFound
    │   └── TokenNotFound
    ├── InvalidInput
    │   ├── InvalidJSON
    │   ├── UnsupportedFormat
    │   ├── CorruptDocument
    │   ├── TooLarge
    │   │   └── QuotaExceeded
    │   └── UnsupportedParameter
    ├── Conflict
    │   └── ContentChanged
    ├── AuthError
    │   ├── NotAuthenticated (no credentials, or ones that are wrong, expired or revoked)
    │   ├── Forbidden        (signed in, not allowed: admin-only, CSRF)
    │   └── TooManyLogins    (.retry_after_s)
    ├── ProviderError        (.kind: unavailable, auth, rate_limited, timeout, ...)
    │   ├── WeightsRefused   (.file_name)
    │   └── StorageUnavailable
    ├── Busy                 (.retry_after_s)
    └── Cancelled

Services raise these; `docchat.api.errors` maps each branch to one HTTP status, and the CLI prints
the message. Messages are written for the person who sent the request: they name the id or the
field, never a stack trace or a third-party exception's text.
"""

from __future__ import annotations

from typing import Literal


def shown_id(value: object) -> str:
    """An id as a message may echo it: at most 80 characters (ids come from clients)."""
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


class DocchatError(Exception):
    """Base class of every docchat error."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DocchatError):
    """Raised when an id names nothing the caller may see."""

    code = "not_found"


class SessionNotFound(NotFound):
    """Raised when a chat session id is unknown (or belongs to another owner)."""

    code = "session_not_found"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"chat session {shown_id(session_id)!r} does not exist")
        self.session_id = session_id


class DocumentNotFound(NotFound):
    """Raised when a document id is unknown (or belongs to another owner)."""

    code = "document_not_found"

    def __init__(self, document_id: str) -> None:
        super().__init__(f"document {shown_id(document_id)!r} does not exist")
        self.document_id = document_id


class CollectionNotFound(NotFound):
    """Raised when the caller has no collection of the name given (sharing is the owner's)."""

    code = "collection_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"you have no collection named {shown_id(name)!r}")
        self.name = name


class PageNotFound(NotFound):
    """Raised when a document has no such page to show: past its last page, or not a PDF."""

    code = "page_not_found"

    def __init__(self, document_id: str, page: int, *, reason: str | None = None) -> None:
        super().__init__(reason or f"document {shown_id(document_id)!r} has no page {page}")
        self.document_id = document_id
        self.page = page


class OriginalNotStored(NotFound):
    """Raised when a document's original file is not kept (it failed to index, or the file was
    removed from the data dir by hand)."""

    code = "original_not_stored"

    def __init__(self, document_id: str) -> None:
        super().__init__(f"the original file of document {shown_id(document_id)!r} is not stored")
        self.document_id = document_id


class TaskNotFound(NotFound):
    """Raised when a background task id is unknown (or was started by someone else)."""

    code = "task_not_found"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {shown_id(task_id)!r} does not exist")
        self.task_id = task_id


class UserNotFound(NotFound):
    """Raised when no user has the name or id given (``docchat.accounts``)."""

    code = "user_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"no user {shown_id(name)!r}")


class TokenNotFound(NotFound):
    """Raised when the caller has no API token with the id given."""

    code = "token_not_found"

    def __init__(self, token_id: str) -> None:
        super().__init__(f"no API token {shown_id(token_id)!r}")


class InvalidInput(DocchatError):
    """Raised when a value supplied by the caller is malformed; `field` names it when known."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidJSON(InvalidInput):
    """Raised when a request body is not JSON docchat accepts: malformed, NaN, a number of
    thousands of digits, or nested too deeply."""

    code = "invalid_json"


class ContextLengthExceeded(InvalidInput):
    """Raised when a question and its instructions leave the model's window no room for an
    answer (OpenAI's code for the same refusal)."""

    code = "context_length_exceeded"


class UnsupportedFormat(InvalidInput):
    """Raised when a file's type has no parser."""

    code = "unsupported_format"


class CorruptDocument(InvalidInput):
    """Raised when a file cannot be parsed: damaged, encrypted, empty or an archive bomb."""

    code = "corrupt_document"


class TooLarge(InvalidInput):
    """Raised when a value or upload exceeds a configured size limit."""

    code = "too_large"


class QuotaExceeded(TooLarge):
    """Raised when an upload would take its owner, or the data dir, past a configured quota
    (documents or bytes); the message names the setting."""

    code = "quota_exceeded"


class UnsupportedParameter(InvalidInput):
    """Raised when a request asks for something docchat does not do (OpenAI's ``n`` > 1, a
    required tool call, a JSON response format): refused rather than silently ignored."""

    code = "unsupported_parameter"


class Conflict(DocchatError):
    """Raised when a request collides with existing state (say, an id already taken)."""

    code = "conflict"


class ContentChanged(Conflict):
    """Raised when bytes being stored do not hash to the sha256 they were read under (the file
    changed meanwhile); nothing is stored."""

    code = "content_changed"


class AuthError(DocchatError):
    """Base of the errors about who is asking (accounts, ``docchat.accounts``)."""

    code = "auth_error"


class NotAuthenticated(AuthError):
    """Raised when a request needs a user and brings none: no cookie or token, or one that is
    wrong, expired, revoked or belongs to a disabled user; and for a failed login (one message
    for an unknown name and a wrong password, so neither is revealed)."""

    code = "not_authenticated"


class Forbidden(AuthError):
    """Raised when the signed-in user may not do this (an admin's route), or a browser request
    that changes state lacks its login's CSRF token."""

    code = "forbidden"


class TooManyLogins(AuthError):
    """Raised when an account or a client address had too many failed logins lately;
    ``retry_after_s`` says when the oldest one stops counting."""

    code = "too_many_login_attempts"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


#: How an external component failed (``ProviderError.kind``), for callers that react differently:
#: "unavailable" (not reachable, or not installed), "auth" (credentials refused), "rate_limited"
#: (still 429 after retries), "timeout", "context_overflow" (prompt longer than the model's window),
#: "server_error" (5xx, or an error reported mid-stream), "rejected" (another 4xx: a wrong model id
#: or parameter), "interrupted" (the reply broke off part-way), "bad_response" (an answer that could
#: not be read), "error" (anything else).
ProviderErrorKind = Literal[
    "unavailable",
    "auth",
    "rate_limited",
    "timeout",
    "context_overflow",
    "server_error",
    "rejected",
    "interrupted",
    "bad_response",
    "error",
]


class ProviderError(DocchatError):
    """Raised when an external component (LLM, embedder, reranker) fails or answers nonsense;
    ``kind`` says how, ``model`` names the configured model when one was involved."""

    code = "provider_error"

    def __init__(
        self, message: str, *, kind: ProviderErrorKind = "error", model: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind: ProviderErrorKind = kind
        self.model = model


class WeightsRefused(ProviderError):
    """Raised when a model's weights lack a part or are not the published file (size, sha256);
    the model is unavailable (``kind`` "unavailable"; its code stays ``provider_error``)."""

    def __init__(self, message: str, *, file_name: str, model: str | None = None) -> None:
        super().__init__(message, kind="unavailable", model=model)
        self.file_name = file_name


class StorageUnavailable(ProviderError):
    """Raised when the store of original files (an S3-compatible bucket) cannot be reached,
    refuses docchat's credentials, or is not installed (``kind`` "unavailable")."""

    code = "storage_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="unavailable")


class Busy(DocchatError):
    """Raised when as many expensive renders (exports, page images) as allowed are running and
    waiting already; ``retry_after_s`` says when to try again."""

    code = "busy"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Cancelled(DocchatError):
    """Raised inside a background task's job when its task was cancelled, to stop it between
    two steps (``docchat.tasks.Progress.check_cancelled``)."""

    code = "cancelled"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {shown_id(task_id)!r} was cancelled")
        self.task_id = task_id
