"""Error types. Every message names the problem and the fix; the CLI and the pages show them as they are."""


class AuditkitError(Exception):
    """Base class for problems a user can fix (bad input, unsafe files, wrong settings)."""


class DataValidationError(AuditkitError, ValueError):
    """The dataset or the audit spec is unusable; holds one message per problem."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(f"- {p}" for p in self.problems) if len(self.problems) > 1 else self.problems[0])


class UnsafeModelError(AuditkitError):
    """A checkpoint would need code execution (pickle, TorchScript, remote code) to load."""


class ModelLoadError(AuditkitError, ValueError):
    """A checkpoint is safe but unusable: malformed, mismatched weights, wrong head size."""


class SettingsError(AuditkitError, ValueError):
    """An option is out of range (batch size, threshold, epsilon, ...)."""


class AccessDenied(AuditkitError, PermissionError):
    """The signed-in user's role does not allow the action (run an audit, sign one off)."""
