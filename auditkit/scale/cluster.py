"""Execution engines: `local` (default) or `ray`; `ensure_ray` joins a Ray cluster or starts a local one."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from auditkit.access import check_ray_address
from auditkit.errors import SettingsError

Engine = Literal["local", "ray"]
ENGINES: tuple[str, ...] = ("local", "ray")
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def check_engine(engine: str) -> Engine:
    """`engine` if it is a known engine, else a SettingsError naming the choices."""
    if engine not in ENGINES:
        raise SettingsError(f"unknown engine '{engine}'. Fix: choose one of {', '.join(ENGINES)}.")
    return engine  # type: ignore[return-value]


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Connect to the Ray cluster at `address` (or `$RAY_ADDRESS`); with neither, start a local cluster sized to
    the machine (or to `num_cpus`). Does nothing when Ray is already initialised in this process.

    From a page of the web app, `address` must be empty or one the administrator allows (`AccessDenied` otherwise,
    see `auditkit.access.check_ray_address`)."""
    check_ray_address(address)
    try:
        import ray
    except ImportError as e:
        raise SettingsError("the ray engine needs Ray, which is an optional extra. "
                            "Fix: pip install -r requirements-ray.txt, or use --engine memory.") from e
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    # Workers import auditkit from this checkout: shipped as a module to a remote cluster, on PYTHONPATH locally.
    if address:
        runtime_env = {"py_modules": [str(_PROJECT_ROOT / "auditkit")]}
    else:
        path = os.pathsep.join(p for p in (str(_PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        runtime_env = {"env_vars": {"PYTHONPATH": path}}
    try:
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False, runtime_env=runtime_env)
    except ConnectionError as e:
        raise SettingsError(f"could not reach the Ray cluster at {address}: {e}. "
                            "Fix: check the address (ray://host:10001 or host:6379) or leave it empty for a local cluster.") from e
