"""Engine settings, overridable from the environment (prefix AUDITKIT_).

A variable that is set but is not a whole number of at least 1 is a `SettingsError` naming the variable and the
fix, never a traceback and never a silent default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from auditkit.errors import SettingsError

JOBS_ENV = "AUDITKIT_MAX_JOBS"
DEFAULT_MAX_JOBS = 2

#: The number settings read from the environment: variable -> (Settings field, what the number counts).
ENV_NUMBERS: dict[str, tuple[str, str]] = {
    "AUDITKIT_MAX_FILE_MB": ("max_file_mb", "megabytes a data file may have"),
    "AUDITKIT_MAX_ARCHIVE_MB": ("max_archive_mb", "megabytes a model archive may expand to"),
    "AUDITKIT_MIN_GROUP_SIZE": ("min_group_size", "rows a group needs before its numbers are trusted"),
    "AUDITKIT_MAX_GROUPS": ("max_groups", "distinct groups a sensitive attribute may have"),
    "AUDITKIT_MAX_MODEL_GB": ("max_model_gb", "gigabytes of model weights"),
    "AUDITKIT_EXPLAIN_ROWS": ("explain_rows", "rows explained by default"),
    "AUDITKIT_EXPLAIN_TEXT_ROWS": ("explain_text_rows", "texts explained by default"),
}


def env_int(name: str, default: int, what: str) -> int:
    """The whole number in `$name` (at least 1), or `default` when unset or empty; `SettingsError` otherwise."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < 1:
        raise SettingsError(f"the environment variable {name} is {value!r}, which is not a whole number of at least 1 "
                            f"({what}). Fix: set {name} to a number such as {default} (the default), or unset it.")
    return number


def max_jobs() -> int:
    """`$AUDITKIT_MAX_JOBS`: how many audits or training jobs one server runs at once (default 2)."""
    return env_int(JOBS_ENV, DEFAULT_MAX_JOBS, "audits or training jobs run at once")


def default_home() -> Path:
    """The workspace: `$AUDITKIT_HOME`, else `~/.auditkit`."""
    return Path(os.environ.get("AUDITKIT_HOME") or Path.home() / ".auditkit").expanduser()


@dataclass(frozen=True)
class Settings:
    """Limits and locations used by the engine. Read once from the environment by `Settings.from_env()`."""

    home: Path = field(default_factory=default_home)
    max_file_mb: int = 500
    max_archive_mb: int = 4096
    max_archive_files: int = 2000
    max_columns: int = 5000
    max_field_chars: int = 100_000
    min_group_size: int = 30
    max_groups: int = 1000
    max_model_gb: int = 8
    idle_seconds: float = 1.0
    explain_rows: int = 1000
    explain_text_rows: int = 20

    @classmethod
    def from_env(cls) -> "Settings":
        """The settings with every `ENV_NUMBERS` variable that is set; `SettingsError` names one that does not parse."""
        numbers = {attr: env_int(name, getattr(cls, attr), what) for name, (attr, what) in ENV_NUMBERS.items()}
        return cls(home=default_home(), **numbers)

    def path(self, *parts: str) -> Path:
        """A folder inside the workspace, created on first use."""
        p = self.home.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p


def check_environment() -> Settings:
    """Every number setting of the environment parsed, `$AUDITKIT_MAX_JOBS` included (the CLI and the app check
    this first, so a bad value is one message before anything runs); returns the settings."""
    max_jobs()
    return Settings.from_env()
