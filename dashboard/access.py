"""Sign-in for the web app: OIDC through `st.login` when `[auth]` is in .streamlit/secrets.toml, else local mode.

Roles are looked up and enforced by the engine (`auditkit.access`); pages only hide what the user cannot do.
`dashboard.shared` is imported inside the functions, so that `dashboard.shared` itself can import this module.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from auditkit.access import (LOCAL_USER, Action, Principal, current_principal, principal_for, require,
                             require_sign_in)
from auditkit.config import Settings
from auditkit.errors import AuditkitError
from auditkit.markup import plain


def auth_section() -> Mapping[str, Any] | None:
    """The `[auth]` section of the secrets, or None when sign-in is not configured (single-user local mode)."""
    if not st.secrets.load_if_toml_exists():
        return None
    section = st.secrets.get("auth")
    return section if isinstance(section, Mapping) and section else None


def _providers(section: Mapping[str, Any]) -> list[str | None]:
    """`[None]` for one provider configured in `[auth]` itself, else the names of its `[auth.NAME]` sections."""
    named = [key for key, value in section.items() if isinstance(value, Mapping)]
    return [None] if "client_id" in section or not named else named


def show_login(section: Mapping[str, Any]) -> None:
    """The sign-in screen."""
    st.title("AuditKit")
    st.info("This AuditKit server needs you to sign in. Your role (analyst or reviewer) comes from your "
            "e-mail address in the workspace's roles file.", icon=":material/lock:")
    for provider in _providers(section):
        label = "Sign in" if provider is None else f"Sign in with {provider}"
        if st.button(label, type="primary", key=f"login_{provider or 'default'}"):
            st.login(provider)


def gate() -> Principal | None:
    """Who uses this session, when they may use the app: the local user without `[auth]`, else the signed-in
    user with the roles the roles file gives them. Otherwise shows the sign-in screen (nobody signed in) or why
    the user has no access, as the app's only page, and returns None (the caller stops)."""
    section = auth_section()
    require_sign_in(section is not None)  # engine calls without a signed-in user are refused while sign-in is on
    if section is None:
        return LOCAL_USER
    if not st.user.get("is_logged_in", False):
        _only_page(lambda: show_login(section), "Sign in", "login")
        return None
    try:
        principal = principal_for(str(st.user.get("email") or ""), settings=Settings.from_env())
        require(principal, "view")
    except AuditkitError as e:
        _only_page(lambda error=e: _show_no_access(error), "No access", "block")
        return None
    return principal


def _show_no_access(error: AuditkitError) -> None:
    from dashboard.shared import show_error

    st.title("AuditKit")
    show_error(error)
    if st.button("Sign out", key="logout_no_access"):
        st.logout()


def _only_page(body: Callable[[], None], title: str, icon: str) -> None:
    st.navigation([st.Page(body, title=title, icon=f":material/{icon}:", url_path="access")]).run()


def enforce_entry() -> None:
    """With sign-in configured, a page runs only inside app.py, which signs the user in.

    Streamlit runs a file of `pages/` directly, without app.py, while it treats the folder as an old-style
    multipage app: on a server's first request, before any session has reached `st.navigation`. Such a run is
    stopped here and rerun through app.py.
    """
    if PagesManager.uses_pages_directory and auth_section() is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()


def show_user(principal: Principal) -> None:
    """The user's name and role in the sidebar, with a sign-out button when signed in."""
    with st.sidebar:
        if principal.authenticated:
            st.caption(f"Signed in as **{plain(principal.name)}** ({principal.role_label})")
            if st.button("Sign out", key="logout"):
                st.logout()
        else:
            st.caption(f"Local mode: you are the {principal.role_label}")


def allowed(action: Action) -> bool:
    """Whether the principal of this page run may do `action` (the engine checks again when it is done)."""
    return current_principal().can(action)


def explain_not_allowed(action: Action, what: str) -> None:
    """Tell the user why a control is not shown."""
    p = current_principal()
    st.info(f"{what} is for users with the {'analyst' if action in ('upload', 'run') else 'reviewer'} role; "
            f"you are signed in as {plain(p.name)} ({p.role_label}).", icon=":material/lock:")
