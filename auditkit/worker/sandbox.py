"""Containment the worker applies to itself before it reads a checkpoint.

On Linux: resource limits (address space, file size, open files, CPU time, no core dumps), a new network namespace
(no network at all, when the process may create one), and a Landlock ruleset: the file system is read-only and
only the paths the worker needs are readable (the Python installation, AuditKit itself, the model, a few system
folders); its scratch folder is the one writable place, and TCP connect and bind are refused. macOS and other
systems get the resource limits only. `apply` returns which protections are in force, for the audit's record.
"""
from __future__ import annotations

import ctypes
import os
import resource
import sys
from dataclasses import dataclass, field
from pathlib import Path

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_PR_SET_NO_NEW_PRIVS, _PR_SET_PDEATHSIG = 38, 1
_CLONE_NEWNET, _CLONE_NEWUSER = 0x40000000, 0x10000000
# Landlock file-system rights (ABI version that introduced each: 1 unless noted).
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_V1 = (1 << 13) - 1
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6
_READ = _EXECUTE | _READ_FILE | _READ_DIR
_SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                "/etc/localtime", "/proc", "/sys/devices/system/cpu", "/sys/fs/cgroup", "/dev/null", "/dev/urandom",
                "/dev/random", "/dev/zero")
_GPU_DEVICES = ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset",
                "/dev/dri", "/proc/driver/nvidia", "/sys/bus/pci", "/sys/devices")


@dataclass(frozen=True)
class Limits:
    """What the worker may use: memory (address space, None for no cap), CPU seconds, bytes per file, open files."""

    memory_bytes: int | None
    cpu_seconds: int
    file_bytes: int = 1 << 30
    open_files: int = 1024
    gpu: bool = False


@dataclass
class Protections:
    """Which protections are in force in this worker, and why any is not."""

    applied: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"platform": sys.platform, "applied": list(self.applied), "missing": dict(self.missing)}


def apply(scratch: Path, readable: list[Path], limits: Limits) -> Protections:
    """Contain this process: call once, before anything from the checkpoint is read."""
    p = Protections()
    _rlimits(limits, p)
    if not sys.platform.startswith("linux"):
        for name in ("network namespace", "landlock"):
            p.missing[name] = f"not available on {sys.platform}"
        return p
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)  # the worker dies with the app
    _network_namespace(libc, p)
    _landlock(libc, scratch, readable, limits.gpu, p)
    return p


def _rlimits(limits: Limits, p: Protections) -> None:
    wanted = {"file size": (resource.RLIMIT_FSIZE, limits.file_bytes),
              "open files": (resource.RLIMIT_NOFILE, limits.open_files),
              "cpu time": (resource.RLIMIT_CPU, limits.cpu_seconds), "core dumps": (resource.RLIMIT_CORE, 0)}
    if limits.memory_bytes is not None:
        wanted["address space"] = (resource.RLIMIT_AS, limits.memory_bytes)
    else:
        p.missing["address space"] = "not capped on a GPU (CUDA reserves a very large address space)"
    for name, (which, value) in wanted.items():
        try:
            _, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))
            p.applied.append(f"{name} limit")
        except (ValueError, OSError) as e:
            p.missing[f"{name} limit"] = str(e)


def _network_namespace(libc: ctypes.CDLL, p: Protections) -> None:
    if libc.unshare(_CLONE_NEWNET) == 0 or libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        p.applied.append("network namespace")
    else:
        p.missing["network namespace"] = os.strerror(ctypes.get_errno())


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _landlock(libc: ctypes.CDLL, scratch: Path, readable: list[Path], gpu: bool, p: Protections) -> None:
    abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        p.missing["landlock"] = f"not supported by this kernel ({os.strerror(ctypes.get_errno())})"
        return
    fs = _FS_V1 | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0) | (_IOCTL_DEV if abi >= 5 else 0)
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        p.missing["landlock"] = os.strerror(ctypes.get_errno())
        return
    try:
        for path in [*map(Path, _SYSTEM_READ), *readable]:
            _allow(libc, ruleset, path, _READ)
        if gpu:
            for path in map(Path, _GPU_DEVICES):
                _allow(libc, ruleset, path, _READ | _WRITE_FILE | (_IOCTL_DEV if abi >= 5 else 0))
        _allow(libc, ruleset, scratch, fs)
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            p.missing["landlock"] = os.strerror(ctypes.get_errno())
            return
    finally:
        os.close(ruleset)
    p.applied.append(f"landlock (ABI {abi}): read-only file system, writes only to the scratch folder")
    if net:
        p.applied.append("landlock: TCP connect and bind refused")


def _allow(libc: ctypes.CDLL, ruleset: int, path: Path, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not path.is_dir():
            access &= _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
        rule = _PathBeneath(access, fd)
        libc.syscall(_SYS_ADD_RULE, ruleset, ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)
