"""The one exception tree of vde.

    VdeError
    ├── SettingsError            invalid setting (names the setting)
    ├── FluksoError              talking to the Flukso API
    │   ├── FluksoAuthError      401/403 for a sensor (never carries the token)
    │   ├── FluksoNotFoundError  404: unknown sensor
    │   └── FluksoTransportError network / 5xx / 429 after retries
    ├── StorageError             database unreachable, schema mismatch, bad URL
    │   └── LockedError          another process holds the lock (e.g. a sync runs)
    ├── ConfigWorkbookError      workbook invalid; carries every problem found
    ├── MailError                SMTP unreachable or refusing
    ├── SharingError             energy sharing cannot run (unknown community, bad key)
    ├── ExportError              an export cannot run or a push failed (names the file / server)
    └── NotFoundError            asked for something that does not exist (or may not be seen)

Library code raises these; only the edges (CLI, web) turn them into messages and exit codes.
Defective *data* (a bad tmpo block, a bad workbook row) is reported as data, not raised,
unless the whole operation must stop.
"""

from __future__ import annotations


class VdeError(Exception):
    """Base of every error vde raises on purpose."""

    #: process exit code the CLI uses for this error
    exit_code: int = 1


class SettingsError(VdeError):
    exit_code = 2


class FluksoError(VdeError):
    def __init__(self, message: str, *, sensor_id: str | None = None) -> None:
        super().__init__(message)
        self.sensor_id = sensor_id


class FluksoAuthError(FluksoError):
    pass


class FluksoNotFoundError(FluksoError):
    pass


class FluksoTransportError(FluksoError):
    pass


class StorageError(VdeError):
    pass


class LockedError(StorageError):
    exit_code = 3


class ConfigWorkbookError(VdeError):
    """The workbook has errors; ``problems`` lists every one (sheet, row, column, value, hint)."""

    exit_code = 2

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class MailError(VdeError):
    pass


class SharingError(VdeError):
    exit_code = 2


class ExportError(VdeError):
    pass


class NotFoundError(VdeError):
    pass
