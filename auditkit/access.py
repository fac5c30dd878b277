"""Who may do what: roles, the signed-in principal, and the check every write path of the engine makes.

Roles: `analyst` uploads data and models and runs audits, `reviewer` signs audits off, `admin` does both;
everyone with a role can view. With no authentication configured AuditKit runs in single-user local mode,
where the local user is analyst and reviewer. With authentication, roles come from a roles file, plain YAML
read with `yaml.safe_load` (`$AUDITKIT_HOME/roles.yaml`, or the file named by `$AUDITKIT_ROLES_FILE`)::

    users:
      alice@example.org: analyst
      bob@example.org: reviewer
      carol@example.org: [analyst, reviewer]
      dana@example.org: admin

E-mail addresses match case-insensitively; a user who is not listed has no access.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from auditkit.config import Settings
from auditkit.errors import AccessDenied, SettingsError

Role = Literal["analyst", "reviewer", "admin"]
Action = Literal["view", "upload", "run", "sign_off"]

ROLES_FILE_ENV = "AUDITKIT_ROLES_FILE"
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "analyst": frozenset({"view", "upload", "run"}),
    "reviewer": frozenset({"view", "sign_off"}),
    "admin": frozenset({"view", "upload", "run", "sign_off"}),
}
ACTION_TEXT = {"view": "view audits", "upload": "upload data or models", "run": "run audits",
               "sign_off": "sign audits off"}
_MAX_ROLES_BYTES = 1_000_000


@dataclass(frozen=True)
class Principal:
    """A user of the engine: `name` (the e-mail when signed in) and their roles; `authenticated` is False
    for the single-user local mode."""

    name: str
    roles: frozenset[str]
    authenticated: bool = False

    def can(self, action: Action) -> bool:
        return any(action in ROLE_ACTIONS.get(role, ()) for role in self.roles)

    @property
    def role_label(self) -> str:
        """The roles as shown to the user, e.g. 'analyst and reviewer', or 'no role'."""
        return " and ".join(sorted(self.roles)) or "no role"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "roles": sorted(self.roles), "authenticated": self.authenticated}


LOCAL_USER = Principal("local user", frozenset({"analyst", "reviewer"}))
_current: ContextVar[Principal] = ContextVar("auditkit_principal", default=LOCAL_USER)


def require(principal: Principal, action: Action) -> None:
    """Raise `AccessDenied` unless `principal` may do `action`."""
    if principal.can(action):
        return
    needed = " or ".join(sorted(role for role, actions in ROLE_ACTIONS.items() if action in actions))
    if not principal.roles:
        raise AccessDenied(f"{principal.name} has no role in this AuditKit workspace, so cannot "
                           f"{ACTION_TEXT[action]}: ask an administrator to add them to the roles file "
                           f"(roles.yaml in the workspace) as {needed}")
    raise AccessDenied(f"{principal.name} is {principal.role_label} and cannot {ACTION_TEXT[action]}: this needs "
                       f"the role {needed}; ask an administrator to change the roles file (roles.yaml in the workspace)")


def current_principal() -> Principal:
    """The principal engine calls act as when none is passed: set by `acting_as`, else the local user."""
    return _current.get()


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Engine calls inside the block act as `principal` (the web app wraps each page run in this)."""
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)


def roles_file(settings: Settings | None = None) -> Path:
    """Where the roles file is: `$AUDITKIT_ROLES_FILE`, else `roles.yaml` in the workspace."""
    named = os.environ.get(ROLES_FILE_ENV)
    return Path(named).expanduser() if named else (settings or Settings.from_env()).home / "roles.yaml"


def parse_roles(text: str, *, source: str = "roles file") -> dict[str, frozenset[str]]:
    """The e-mail (lower case) -> roles map of a roles file's text; `SettingsError` naming the bad entry."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{source} is not valid YAML ({exc}); see docs/security.md for its format") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"users"} or not isinstance(data.get("users") or {}, dict):
        raise SettingsError(f"{source} must be a mapping with one key, 'users', mapping e-mail addresses to roles "
                            f"(e.g. 'users: {{alice@example.org: analyst}}')")
    mapping: dict[str, frozenset[str]] = {}
    for email, roles in (data.get("users") or {}).items():
        listed = [roles] if isinstance(roles, str) else roles
        if not isinstance(email, str) or not isinstance(listed, list) or not all(isinstance(r, str) for r in listed):
            raise SettingsError(f"{source}: the entry {email!r} must map an e-mail address to a role or a list "
                                f"of roles ({', '.join(ROLE_ACTIONS)})")
        unknown = sorted(set(listed) - set(ROLE_ACTIONS))
        if unknown:
            raise SettingsError(f"{source}: {email} has the unknown role(s) {', '.join(unknown)}; the roles are "
                                f"{', '.join(ROLE_ACTIONS)}")
        mapping[email.strip().lower()] = frozenset(listed)
    return mapping


def load_roles(settings: Settings | None = None) -> dict[str, frozenset[str]]:
    """The roles file's map; an empty map when there is no file (then nobody signed in has access)."""
    path = roles_file(settings)
    if not path.is_file():
        return {}
    if path.stat().st_size > _MAX_ROLES_BYTES:
        raise SettingsError(f"the roles file {path} is larger than {_MAX_ROLES_BYTES:,} bytes; it should list "
                            f"e-mail addresses and roles only")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"the roles file {path} is not UTF-8 text; save it as UTF-8") from None
    return parse_roles(text, source=f"the roles file {path}")


def principal_for(email: str, *, settings: Settings | None = None,
                  roles: dict[str, frozenset[str]] | None = None) -> Principal:
    """The signed-in user with the roles the roles file gives their e-mail (none when not listed)."""
    email = (email or "").strip()
    if not email:
        raise AccessDenied("the sign-in did not provide an e-mail address, which AuditKit needs to look up your "
                           "role; ask the administrator to request the 'email' scope from the identity provider")
    table = load_roles(settings) if roles is None else roles
    return Principal(email, table.get(email.lower(), frozenset()), authenticated=True)
