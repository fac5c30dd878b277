"""Who may do what: roles, the signed-in principal, and the check every write path of the engine makes.

Roles: `analyst` uploads data and models and runs audits, `reviewer` signs audits off, `admin` does both;
everyone with a role can view. With no authentication configured AuditKit runs in single-user local mode,
where an engine call made outside `acting_as` acts as the local user, analyst and reviewer. Once the web app
declares sign-in (`require_sign_in`), such a call is refused: access fails closed. With authentication, roles
come from a roles file, plain YAML read by `auditkit.safe_yaml` (`$AUDITKIT_HOME/roles.yaml`, or the file named
by `$AUDITKIT_ROLES_FILE`)::

    users:
      alice@example.org: analyst
      bob@example.org: reviewer
      carol@example.org: [analyst, reviewer]
      dana@example.org: admin

E-mail addresses match case-insensitively, so an address listed twice (in any case) is an error; a user who is
not listed has no access. A page session may send audits only to the Ray clusters an administrator lists in
`$AUDITKIT_RAY_ADDRESSES` (`check_ray_address`).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from auditkit.config import Settings
from auditkit.errors import AccessDenied, SettingsError
from auditkit.safe_yaml import load_yaml, read_yaml_file

Role = Literal["analyst", "reviewer", "admin"]
Action = Literal["view", "upload", "run", "sign_off"]

ROLES_FILE_ENV = "AUDITKIT_ROLES_FILE"
RAY_ADDRESSES_ENV = "AUDITKIT_RAY_ADDRESSES"
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
# The principal of this call and whether a page of the web app made it (None outside `acting_as`).
_current: ContextVar[tuple[Principal, bool] | None] = ContextVar("auditkit_principal", default=None)
_sign_in = threading.Event()  # process-wide: set by the web app while sign-in is configured


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


def require_sign_in(required: bool = True) -> None:
    """Declare for this process whether sign-in is configured (the web app does, on every page run). While it is,
    an engine call outside `acting_as` has no principal and is refused instead of acting as the local user."""
    if required:
        _sign_in.set()
    else:
        _sign_in.clear()


def sign_in_required() -> bool:
    """Whether `require_sign_in` is in force in this process."""
    return _sign_in.is_set()


def current_principal() -> Principal:
    """The principal engine calls act as when none is passed: set by `acting_as`; else the local user, unless
    sign-in is required, when the call is refused with `AccessDenied`."""
    current = _current.get()
    if current is not None:
        return current[0]
    if _sign_in.is_set():
        raise AccessDenied("this AuditKit server requires sign-in, and this call was made without a signed-in user "
                           "(outside a page, or from a thread the page did not start): sign in and use the "
                           "dashboard, or run it from the command line on the server")
    return LOCAL_USER


def in_page_session() -> bool:
    """Whether this call was made by a page of the web app (inside `acting_as(..., page=True)`)."""
    current = _current.get()
    return current is not None and current[1]


@contextmanager
def acting_as(principal: Principal, *, page: bool = False) -> Iterator[Principal]:
    """Engine calls inside the block act as `principal`. The web app wraps each page run in this with `page`;
    a block nested in a page session stays one. Threads started with a copy of the context, such as
    `auditkit.jobs.BackgroundJob`, keep both."""
    token = _current.set((principal, page or in_page_session()))
    try:
        yield principal
    finally:
        _current.reset(token)


def roles_file(settings: Settings | None = None) -> Path:
    """Where the roles file is: `$AUDITKIT_ROLES_FILE`, else `roles.yaml` in the workspace."""
    named = os.environ.get(ROLES_FILE_ENV)
    return Path(named).expanduser() if named else (settings or Settings.from_env()).home / "roles.yaml"


def parse_roles(text: str | bytes, *, source: str = "roles file") -> dict[str, frozenset[str]]:
    """The e-mail (lower case) -> roles map of a roles file's text; `SettingsError` naming the bad entry."""
    return _roles(load_yaml(text, source=source, error=SettingsError, max_bytes=_MAX_ROLES_BYTES), source)


def _roles(data: Any, source: str) -> dict[str, frozenset[str]]:
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"users"} or not isinstance(data.get("users") or {}, dict):
        raise SettingsError(f"{source} must be a mapping with one key, 'users', mapping e-mail addresses to roles "
                            f"(e.g. 'users: {{alice@example.org: analyst}}')")
    mapping: dict[str, frozenset[str]] = {}
    listed_as: dict[str, str] = {}
    for email, roles in (data.get("users") or {}).items():
        listed = [roles] if isinstance(roles, str) else roles
        if not isinstance(email, str) or not isinstance(listed, list) or not all(isinstance(r, str) for r in listed):
            raise SettingsError(f"{source}: the entry {email!r} must map an e-mail address to a role or a list "
                                f"of roles ({', '.join(ROLE_ACTIONS)})")
        unknown = sorted(set(listed) - set(ROLE_ACTIONS))
        if unknown:
            raise SettingsError(f"{source}: {email} has the unknown role(s) {', '.join(unknown)}; the roles are "
                                f"{', '.join(ROLE_ACTIONS)}")
        key = email.strip().lower()
        if key in listed_as:
            raise SettingsError(f"{source} lists the e-mail address {key} twice ({listed_as[key]!r} and {email!r}; "
                                f"addresses match in any case): list it once, with all its roles, e.g. "
                                f"'{key}: [analyst, reviewer]'")
        listed_as[key] = email
        mapping[key] = frozenset(listed)
    return mapping


def load_roles(settings: Settings | None = None) -> dict[str, frozenset[str]]:
    """The roles file's map; an empty map when there is no file (then nobody signed in has access)."""
    path = roles_file(settings)
    if not path.is_file():
        return {}
    source = f"the roles file {path}"
    return _roles(read_yaml_file(path, error=SettingsError, source=source, max_bytes=_MAX_ROLES_BYTES), source)


def principal_for(email: str, *, settings: Settings | None = None,
                  roles: dict[str, frozenset[str]] | None = None) -> Principal:
    """The signed-in user with the roles the roles file gives their e-mail (none when not listed)."""
    email = (email or "").strip()
    if not email:
        raise AccessDenied("the sign-in did not provide an e-mail address, which AuditKit needs to look up your "
                           "role; ask the administrator to request the 'email' scope from the identity provider")
    table = load_roles(settings) if roles is None else roles
    return Principal(email, table.get(email.lower(), frozenset()), authenticated=True)


def allowed_ray_addresses() -> tuple[str, ...]:
    """The Ray cluster addresses an administrator lists in `$AUDITKIT_RAY_ADDRESSES` (comma-separated)."""
    return tuple(a.strip() for a in os.environ.get(RAY_ADDRESSES_ENV, "").split(",") if a.strip())


def check_ray_address(address: str | None) -> None:
    """Inside a page session, `AccessDenied` unless `address` is empty (a local cluster, or the administrator's
    `$RAY_ADDRESS`) or listed in `$AUDITKIT_RAY_ADDRESSES`: a dashboard user cannot send the server's data and
    models to a cluster of their choosing. The command line, run by whoever runs the server, may name any."""
    if not address or not in_page_session() or address.strip() in allowed_ray_addresses():
        return
    listed = ", ".join(allowed_ray_addresses()) or "none"
    raise AccessDenied(f"the Ray cluster {address.strip()!r} is not one this server's administrator allows "
                       f"(allowed: {listed}); choose one of those, or ask the administrator to add it to "
                       f"{RAY_ADDRESSES_ENV}")
