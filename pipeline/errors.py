"""One error hierarchy for Ledgerline.

Exceptions mean "this run or this action cannot continue". They are caught in two places only:
the import run (per stream) and the service call behind a user action. Data problems that do not
stop a run (an unbalanced entry, an unknown account) are `Problem` values, not exceptions.
Every message is written for the user: what went wrong, where, and what to do.
"""

from __future__ import annotations


class LedgerlineError(Exception):
    """Base class. `kind` is stored on failed runs; `guidance` tells the user what to do."""

    kind = "error"
    guidance = ""

    def __init__(self, message: str, *, guidance: str | None = None):
        super().__init__(message)
        self.message = message
        if guidance is not None:
            self.guidance = guidance

    def user_message(self) -> str:
        """The message with its guidance, as shown in the app and the CLI."""
        if self.guidance and self.guidance not in self.message:
            return f"{self.message} {self.guidance}".strip()
        return self.message


class ConfigError(LedgerlineError):
    """Ledgerline itself is set up wrongly (unknown entity, bad option, missing setting)."""

    kind = "config"


class NotFoundError(ConfigError):
    """A named object (entity, structure, run) does not exist."""

    kind = "not_found"


class PermissionDenied(LedgerlineError):
    """The current user's role does not allow this action."""

    kind = "permission"


class RefusedError(LedgerlineError):
    """An action is refused by a rule (cooldown, daily cap, a lock held by a first import)."""

    kind = "refused"


class ParseError(LedgerlineError):
    """Input that cannot be read. Names the file, the line or element, and the field."""

    kind = "parse"
    guidance = "Nothing was imported; fix the file and upload it again."

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        where: str | None = None,
        field: str | None = None,
        guidance: str | None = None,
    ):
        self.file = file
        self.where = where
        self.field = field
        parts = [p for p in (file, where, f"field {field!r}" if field else None) if p]
        full = f"{': '.join([', '.join(parts), message]) if parts else message}"
        super().__init__(full, guidance=guidance)


class InputTooLarge(ParseError):
    """A file over the configured size limit; refused before reading it."""

    kind = "too_large"
    guidance = "Split the export into smaller periods or raise the upload limit in Settings."


class SourceError(LedgerlineError):
    """A source (ERP API) failed."""

    kind = "source"


class RetriableSourceError(SourceError):
    """Temporary: provider unreachable, rate limited, maintenance. The scheduler retries."""

    kind = "retriable"
    guidance = "The provider is temporarily unavailable; the import will be retried."

    def __init__(self, message: str, *, retry_after: float | None = None, guidance: str | None = None):
        super().__init__(message, guidance=guidance)
        self.retry_after = retry_after


class FatalSourceError(SourceError):
    """Permanent until a person acts: entity deleted, permission missing, source paused."""

    kind = "fatal"


class AuthError(FatalSourceError):
    """Credentials rejected, expired or revoked: the user must reconnect."""

    kind = "auth"
    guidance = "Reconnect the source with new credentials."


class InterruptedRun(LedgerlineError):
    """A run whose process died before it finished (kill, crash, power loss)."""

    kind = "interrupted"
    guidance = "The previous figures were kept; the scheduler retries the import, or start it again now."
