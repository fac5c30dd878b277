"""The report package's error type."""
from auditkit.errors import AuditkitError


class ReportError(AuditkitError, ValueError):
    """A report cannot be made from this input; the message says what to change."""
