"""Reading zip uploads safely: no traversal, no links, and size caps checked before decompression.

`BoundedZip` is the one reader for every zip a checkpoint arrives in (Hugging Face zips, `.pt2` archives, the
torch.save archive nested in a `.pt2`): it checks the entry count, the declared sizes and the declared expansion
ratio of every entry before a byte is inflated, then counts the bytes actually read, which can never exceed the
declared size, the total budget or the ratio.
"""
from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Iterator

from auditkit.config import Settings
from auditkit.errors import UnsafeModelError

_CHUNK = 1 << 20
_MAX_RATIO = 200
_RATIO_FLOOR = 10 * _CHUNK  # entries smaller than this may compress better than the ratio (text, zeros)
MAX_DEPTH = 33  # path components of an entry: 32 folders and a file


def is_symlink(info: zipfile.ZipInfo) -> bool:
    """Whether a zip entry is a symbolic link (Unix mode bits in external_attr)."""
    return stat.S_ISLNK(info.external_attr >> 16)


def safe_member_name(name: str) -> PurePosixPath:
    """The entry's relative path, refusing absolute paths, `..` components, more than `MAX_DEPTH` folders and
    names longer than a file system allows."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeModelError(f"the archive entry '{name}' points outside the archive. Fix: re-create the zip from the model folder itself.")
    if len(path.parts) > MAX_DEPTH:
        raise UnsafeModelError(f"the archive entry '{name[:60]}...' is {len(path.parts) - 1} folders deep, over the "
                               f"{MAX_DEPTH - 1} limit. Fix: zip the model folder itself.")
    if any(len(part.encode("utf-8")) > 255 for part in path.parts):
        raise UnsafeModelError(f"the archive entry '{name[:60]}...' has a name part over 255 bytes. Fix: zip the model folder itself.")
    return path


def check_tree(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse an entry that is both a file and a folder: a file entry whose path is also a folder entry or a
    parent folder of another entry."""
    files = {safe_member_name(i.filename) for i in infos if not i.is_dir()}
    folders = {safe_member_name(i.filename) for i in infos if i.is_dir()}
    folders.update(parent for p in files | folders for parent in p.parents)
    both = sorted(files & folders)
    if both:
        raise UnsafeModelError(f"the archive entry '{both[0]}' is both a file and a folder. Fix: re-create the zip from the model folder itself.")


class BoundedZip:
    """The entries of an open zip, checked against the caps in `settings`, and a reader that enforces them.

    On construction (nothing inflated yet): entry count, links, paths, each entry's declared size and ratio, and
    the declared total. While reading: the bytes actually read, against the same limits and the declared size.
    """

    def __init__(self, zf: zipfile.ZipFile, settings: Settings):
        self.zf = zf
        self.mb = settings.max_archive_mb
        self.limit = settings.max_archive_mb * 2**20
        self.read_total = 0
        self.infos = zf.infolist()
        if len(self.infos) > settings.max_archive_files:
            raise UnsafeModelError(f"the archive has {len(self.infos)} entries, over the {settings.max_archive_files} "
                                   "limit. Fix: zip only the model folder.")
        declared = 0
        for info in self.infos:
            if is_symlink(info):
                raise UnsafeModelError(f"the archive entry '{info.filename}' is a symbolic link; links are refused. "
                                       "Fix: zip real files only.")
            safe_member_name(info.filename)
            self._check_ratio(info, info.file_size)
            declared += info.file_size
            self._check_total(declared)
        check_tree(self.infos)

    def chunks(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """The entry's bytes in chunks of at most 1 MiB, counted against the caps as they are inflated."""
        read = 0
        try:
            with self.zf.open(info) as src:
                while chunk := src.read(_CHUNK):
                    read += len(chunk)
                    self.read_total += len(chunk)
                    self._check_total(self.read_total)
                    if read > info.file_size:
                        raise UnsafeModelError(f"the archive entry '{info.filename}' expands past its declared size "
                                               f"({info.file_size} bytes). Refused.")
                    self._check_ratio(info, read)
                    yield chunk
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError) as e:
            raise UnsafeModelError(f"the archive entry '{info.filename}' cannot be read ({e}). Fix: re-create the zip.") from None

    def read(self, info: zipfile.ZipInfo) -> bytes:
        """The whole entry (callers cap `info.file_size` first for what they keep in memory)."""
        return b"".join(self.chunks(info))

    def _check_total(self, size: int) -> None:
        if size > self.limit:
            raise UnsafeModelError(f"the archive expands past {self.mb} MB. Fix: upload a smaller model.")

    @staticmethod
    def _check_ratio(info: zipfile.ZipInfo, size: int) -> None:
        if size > _MAX_RATIO * max(info.compress_size, 1) and size > _RATIO_FLOOR:
            raise UnsafeModelError(f"the archive entry '{info.filename}' expands more than {_MAX_RATIO}x (a zip bomb?). Refused.")


def extract_zip(archive: Path, dest: Path, settings: Settings) -> Path:
    """Extract `archive` into the empty folder `dest` within the caps of `BoundedZip`."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as e:
        raise UnsafeModelError(f"the zip file is corrupt ({e}). Fix: re-create it.") from None
    with zf:
        bounded = BoundedZip(zf, settings)
        for info in bounded.infos:
            target = dest.joinpath(*safe_member_name(info.filename).parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                for chunk in bounded.chunks(info):
                    out.write(chunk)
    return _single_root(dest)


def _single_root(dest: Path) -> Path:
    """A zip of a folder holds one top-level folder: return it; otherwise the destination itself."""
    entries = [p for p in dest.iterdir() if p.name != "__MACOSX"]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest
