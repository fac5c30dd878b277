"""The two shapes of an audit.json section, or part of one, that holds no result.

- `Skipped`: not computed, because it does not apply to this audit; `{"skipped": "<reason>"}`.
- `Failed`: tried, and it hit a problem the user can fix; `{"error": "<message>"}`.

The audit, the pages and the report all read them through `outcome_of`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SKIPPED = "skipped"
ERROR = "error"


@dataclass(frozen=True)
class Skipped:
    """Not computed for this audit; `reason` says why (and what would make it apply)."""

    reason: str

    def to_dict(self) -> dict[str, str]:
        return {SKIPPED: self.reason}


@dataclass(frozen=True)
class Failed:
    """Tried and failed; `message` names the problem and the fix."""

    message: str

    def to_dict(self) -> dict[str, str]:
        return {ERROR: self.message}


def outcome_of(section: Any) -> Skipped | Failed | None:
    """The `Skipped` or `Failed` an audit.json section records, or None when it holds a result.

    Audits stored before these two shapes recorded a skipped explanations section as
    `{"method": null, "reason": "<why>"}`; it reads as `Skipped`.
    """
    if not isinstance(section, dict):
        return None
    if isinstance(section.get(ERROR), str):
        return Failed(section[ERROR])
    if isinstance(section.get(SKIPPED), str):
        return Skipped(section[SKIPPED])
    if set(section) == {"method", "reason"} and section["method"] is None and isinstance(section["reason"], str):
        return Skipped(section["reason"])
    return None
