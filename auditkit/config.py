"""Engine settings, overridable from the environment (prefix AUDITKIT_)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


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
    max_model_gb: int = 8
    idle_seconds: float = 1.0
    explain_rows: int = 1000
    explain_text_rows: int = 20

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            home=default_home(),
            max_file_mb=_env_int("AUDITKIT_MAX_FILE_MB", cls.max_file_mb),
            max_archive_mb=_env_int("AUDITKIT_MAX_ARCHIVE_MB", cls.max_archive_mb),
            min_group_size=_env_int("AUDITKIT_MIN_GROUP_SIZE", cls.min_group_size),
            max_model_gb=_env_int("AUDITKIT_MAX_MODEL_GB", cls.max_model_gb),
            explain_rows=_env_int("AUDITKIT_EXPLAIN_ROWS", cls.explain_rows),
            explain_text_rows=_env_int("AUDITKIT_EXPLAIN_TEXT_ROWS", cls.explain_text_rows),
        )

    def path(self, *parts: str) -> Path:
        """A folder inside the workspace, created on first use."""
        p = self.home.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p
