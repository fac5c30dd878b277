"""Uploaded `torch.export` programs (.pt2), layer 1: accept only what is known to be data.

`torch.export.load` reads far more than weights: it unpickles sample inputs, pickled weights and opaque objects,
opens AOTInductor shared libraries, evaluates symbolic sizes and pastes names into generated code, and the program
may call operators that touch files. So:
- `inspect_pt2` checks an archive without deserialising anything: the size caps (`archive.BoundedZip`), the member
  allowlist (`pt2_members`), the program and its operators (`pt2_program`, `pt2_operators`). Upload runs it.
- `load_pt2` inspects again, writes an archive holding only the checked bytes (configs and program re-serialised,
  node metadata dropped, sample inputs emptied, markers written by torch's own writer) to a temporary folder, and
  hands torch that copy, never the upload. The temporary folder is removed once torch has read it.
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch

from auditkit.checkpoints.handle import LoadedModel
from auditkit.checkpoints.pt2_members import (CONSTANTS_CONFIG, PROGRAM, SAMPLE_INPUTS, WEIGHTS_CONFIG, Pt2Members,
                                              read_members)
from auditkit.checkpoints.pt2_program import CheckedProgram, check_program
from auditkit.config import Settings
from auditkit.errors import ModelLoadError


@dataclass(frozen=True)
class CheckedPt2:
    """An archive that passed every check: the bytes torch may read, and the program's feature count."""

    members: Pt2Members
    program: CheckedProgram

    @property
    def n_features(self) -> int:
        return self.program.n_features


def is_pt2(zf: zipfile.ZipFile) -> bool:
    """Whether a zip is laid out as a torch.export archive (`<root>/archive_format`); judged by names, nothing read."""
    return any(PurePosixPath(n).parts[1:] == ("archive_format",) for n in zf.namelist())


def inspect_pt2(path: Path, settings: Settings | None = None) -> CheckedPt2:
    """Check a `.pt2` archive without deserialising any of it; raise an AuditkitError naming what is refused."""
    members = read_members(Path(path), settings or Settings.from_env())
    program = check_program(f"{members.root}/{PROGRAM}", members.program)
    listed = {fqn for rel in (WEIGHTS_CONFIG, CONSTANTS_CONFIG) for fqn in members.configs[rel]["config"]}
    if listed != program.weights:
        missing, unused = sorted(program.weights - listed), sorted(listed - program.weights)
        raise ModelLoadError(f"the .pt2 configs do not match the program (tensors the program needs but no config "
                             f"lists: {missing}; listed but unused: {unused}). Fix: re-export the model with "
                             "torch.export.save.")
    return CheckedPt2(members, program)


def load_pt2(path: Path, sha256: str, settings: Settings | None = None) -> LoadedModel:
    """Inspect, then load a tabular `torch.export` program from its checked bytes: float32 [batch, n_features] -> logits."""
    checked = inspect_pt2(path, settings)
    with tempfile.TemporaryDirectory(prefix="auditkit-pt2-") as scratch:
        rebuilt = _write_checked(checked, Path(scratch) / "model.pt2")
        try:
            module = torch.export.load(str(rebuilt)).module()
            with torch.inference_mode():
                out = module(torch.zeros(2, checked.n_features))
        except Exception as e:  # a malformed program raises many kinds of errors
            raise ModelLoadError(f"the .pt2 file cannot be loaded ({type(e).__name__}: {e}). "
                                 "Fix: re-export it with torch.export.") from None
    if not isinstance(out, torch.Tensor) or out.ndim not in (1, 2):
        shown = f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelLoadError(f"the model returns {shown}; expected logits [batch] or [batch, n_classes].")
    n_outputs = 1 if out.ndim == 1 else int(out.shape[1])
    return LoadedModel(kind="tabular", module=module, sha256=sha256, fmt="pt2", n_outputs=n_outputs,
                       n_features=checked.n_features)


def _write_checked(checked: CheckedPt2, dest: Path) -> Path:
    """A torch.export archive holding only the checked bytes, written by torch's own archive writer."""
    from torch.export.pt2_archive._package import PT2ArchiveWriter

    with PT2ArchiveWriter(str(dest)) as writer:
        writer.write_bytes(PROGRAM, json.dumps(checked.program.program).encode())
        for rel, config in checked.members.configs.items():
            writer.write_bytes(rel, json.dumps(config).encode())
        for rel, data in checked.members.tensors.items():
            writer.write_bytes(rel, data)
        writer.write_bytes(SAMPLE_INPUTS, b"")
    return dest
