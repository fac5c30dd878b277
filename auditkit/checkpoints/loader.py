"""`load_model`: detect a checkpoint's format from its bytes and load it through the matching safe loader."""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from auditkit.checkpoints.archive import extract_zip
from auditkit.checkpoints.handle import LoadedModel
from auditkit.checkpoints.hf import load_hf
from auditkit.checkpoints.pt2 import is_pt2, load_pt2
from auditkit.config import Settings
from auditkit.errors import ModelLoadError, UnsafeModelError
from auditkit.hashing import sha256_file, sha256_tree

_REFUSED_SUFFIXES = {".pkl": "a Python pickle", ".pickle": "a Python pickle", ".joblib": "a joblib pickle",
                     ".dill": "a dill pickle", ".h5": "a Keras HDF5 file", ".keras": "a Keras file"}
_PICKLE_HELP = ("Pickle files can run arbitrary code when loaded, so they are refused. "
                "Fix: save tabular models with torch.export (.pt2) and Hugging Face models with safetensors.")


def load_model(path: str | Path, *, allow_pickle_weights: bool = False, settings: Settings | None = None) -> LoadedModel:
    """Load a checkpoint: a Hugging Face folder or .zip of one, or a `torch.export` .pt2 program.

    Nothing in the checkpoint is executed. `allow_pickle_weights` admits plain state dicts in a
    Hugging Face folder, loaded with `torch.load(weights_only=True)` only.
    """
    settings = settings or Settings.from_env()
    path = Path(path)
    if path.is_symlink():
        raise UnsafeModelError(f"'{path.name}' is a symbolic link; links are refused. Fix: pass the real file.")
    if path.is_dir():
        return load_hf(path, sha256_tree(path), allow_pickle_weights=allow_pickle_weights, budget_gb=settings.max_model_gb)
    if not path.is_file():
        raise ModelLoadError(f"model file '{path}' does not exist. Fix: check the path.")
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04"):
        return _load_zip(path, settings, allow_pickle_weights)
    if head[:1] == b"\x80" or path.suffix.lower() in _REFUSED_SUFFIXES:
        kind = _REFUSED_SUFFIXES.get(path.suffix.lower(), "a Python pickle")
        raise UnsafeModelError(f"'{path.name}' is {kind}. {_PICKLE_HELP}")
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        raise UnsafeModelError(f"'{path.name}' is a Keras HDF5 file, which can carry code (Lambda layers). {_PICKLE_HELP}")
    if len(head) > 8 and head[8:9] == b"{":
        raise ModelLoadError(f"'{path.name}' is a bare safetensors file. Fix: upload the whole model folder "
                             "(config.json, model.safetensors, tokenizer files) as a .zip.")
    raise ModelLoadError(f"'{path.name}' is not a supported checkpoint. Fix: upload a .pt2 (torch.export) file, "
                         "or a zipped Hugging Face model folder with safetensors weights.")


def _load_zip(path: Path, settings: Settings, allow_pickle_weights: bool) -> LoadedModel:
    sha = sha256_file(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if is_pt2(zf):
                kind = "pt2"
            elif any(n.endswith("constants.pkl") or "/code/" in n for n in names):
                raise UnsafeModelError(f"'{path.name}' is a TorchScript program, which is code and has no safe loading mode. "
                                       "Fix: export the model with torch.export (.pt2) instead.")
            elif path.suffix.lower() == ".keras" or any(n.endswith(".weights.h5") for n in names):
                raise UnsafeModelError(f"'{path.name}' is a Keras archive, which can carry code (Lambda layers). "
                                       f"{_PICKLE_HELP}")
            elif any(n.endswith("data.pkl") for n in names):
                raise UnsafeModelError(f"'{path.name}' is a torch.save pickle (state dict or whole model). {_PICKLE_HELP}")
            elif any(n.endswith("config.json") for n in names):
                kind = "hf"
            else:
                raise ModelLoadError(f"'{path.name}' is a zip with neither config.json nor a torch.export program. "
                                     "Fix: zip the Hugging Face model folder, or upload a .pt2 file.")
    except zipfile.BadZipFile as e:
        raise ModelLoadError(f"'{path.name}' is a corrupt zip file ({e}). Fix: re-create it.") from None
    if kind == "pt2":
        return load_pt2(path, sha)
    return load_hf(_extracted(path, sha, settings), sha, allow_pickle_weights=allow_pickle_weights, budget_gb=settings.max_model_gb)


def _extracted(path: Path, sha: str, settings: Settings) -> Path:
    """Extract a model zip once into the content-addressed model folder of the workspace."""
    home = settings.path("models")
    final = home / sha
    if not final.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=home))
        try:
            extract_zip(path, staging, settings)
            if not final.exists():
                staging.replace(final)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    entries = [p for p in final.iterdir() if p.name != "__MACOSX"]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else final
