"""Safe extraction of zip uploads: no traversal, no links, bounded by bytes actually read."""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from auditkit.config import Settings
from auditkit.errors import UnsafeModelError

_CHUNK = 1 << 20
_MAX_RATIO = 200


def is_symlink(info: zipfile.ZipInfo) -> bool:
    """Whether a zip entry is a symbolic link (Unix mode bits in external_attr)."""
    return stat.S_ISLNK(info.external_attr >> 16)


def safe_member_name(name: str) -> PurePosixPath:
    """The entry's relative path, refusing absolute paths and `..` components."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeModelError(f"the archive entry '{name}' points outside the archive. Fix: re-create the zip from the model folder itself.")
    return path


def extract_zip(archive: Path, dest: Path, settings: Settings) -> Path:
    """Extract `archive` into the empty folder `dest`, enforcing entry-count, size and ratio caps."""
    limit = settings.max_archive_mb * 2**20
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as e:
        raise UnsafeModelError(f"the zip file is corrupt ({e}). Fix: re-create it.") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > settings.max_archive_files:
            raise UnsafeModelError(f"the archive has {len(infos)} entries, over the {settings.max_archive_files} limit. Fix: zip only the model folder.")
        total = 0
        for info in infos:
            if is_symlink(info):
                raise UnsafeModelError(f"the archive entry '{info.filename}' is a symbolic link; links are refused. Fix: zip real files only.")
            rel = safe_member_name(info.filename)
            target = dest.joinpath(*rel.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        if total > limit:
                            raise UnsafeModelError(f"the archive expands past {settings.max_archive_mb} MB. Fix: upload a smaller model.")
                        if written > _MAX_RATIO * max(info.compress_size, 1) and written > 10 * _CHUNK:
                            raise UnsafeModelError(f"the archive entry '{info.filename}' expands more than {_MAX_RATIO}x (a zip bomb?). Refused.")
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise UnsafeModelError(f"the archive entry '{info.filename}' cannot be read ({e}). Fix: re-create the zip.") from None
    return _single_root(dest)


def _single_root(dest: Path) -> Path:
    """A zip of a folder holds one top-level folder: return it; otherwise the destination itself."""
    entries = [p for p in dest.iterdir() if p.name != "__MACOSX"]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest
