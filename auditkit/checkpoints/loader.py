"""`load_model`: refuse what is known to carry code, find the model's family from its bytes, and load it in a
contained worker process (`auditkit.worker`). The app process gets a `ModelHandle`, never the model."""
from __future__ import annotations

import zipfile
from pathlib import Path

from auditkit.config import Settings
from auditkit.errors import ModelLoadError, UnsafeModelError
from auditkit.families.handle import ModelHandle
from auditkit.families.registry import detect
from auditkit.hashing import sha256_path
from auditkit.worker.client import worker_for

_REFUSED_SUFFIXES = {".pkl": "a Python pickle", ".pickle": "a Python pickle", ".joblib": "a joblib pickle",
                     ".dill": "a dill pickle", ".h5": "a Keras HDF5 file", ".keras": "a Keras file"}
_PICKLE_HELP = ("Pickle files can run arbitrary code when loaded, so they are refused. "
                "Fix: save tabular models with torch.export (.pt2) and Hugging Face models with safetensors.")


def load_model(path: str | Path, *, allow_pickle_weights: bool = False, settings: Settings | None = None,
               sha256: str | None = None) -> ModelHandle:
    """Load a checkpoint of any registered family (built in: a `torch.export` .pt2 program; a Hugging Face
    folder or .zip of one) in its own worker process.

    Nothing in the checkpoint is executed in this process: the family checks it without deserialising it, then
    the worker, contained, loads it. `allow_pickle_weights` admits plain state dicts in a Hugging Face folder,
    loaded with `torch.load(weights_only=True)` only. `sha256` is the checkpoint's content hash when the caller has
    computed it already (it is not recomputed).
    """
    settings = settings or Settings.from_env()
    path = Path(path)
    if path.is_symlink():
        raise UnsafeModelError(f"'{path.name}' is a symbolic link; links are refused. Fix: pass the real file.")
    if path.is_file():
        refuse_code(path)
    elif not path.is_dir():
        raise ModelLoadError(f"model file '{path}' does not exist. Fix: check the path.")
    family = detect(path)
    sha = sha256 or sha256_path(path)
    options = {"allow_pickle_weights": True} if allow_pickle_weights else {}
    prepared = family.prepare(path, sha, settings, **options)
    worker = worker_for(family.name, prepared, sha, settings, options)
    return ModelHandle(family, worker.info, worker)


def refuse_code(path: Path) -> None:
    """Refuse files whose bytes say they carry code: pickles, Keras files, TorchScript and torch.save archives."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04"):
        _refuse_code_zip(path)
        return
    if head[:1] == b"\x80" or path.suffix.lower() in _REFUSED_SUFFIXES:
        kind = _REFUSED_SUFFIXES.get(path.suffix.lower(), "a Python pickle")
        raise UnsafeModelError(f"'{path.name}' is {kind}. {_PICKLE_HELP}")
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        raise UnsafeModelError(f"'{path.name}' is a Keras HDF5 file, which can carry code (Lambda layers). {_PICKLE_HELP}")
    if len(head) > 8 and head[8:9] == b"{":
        raise ModelLoadError(f"'{path.name}' is a bare safetensors file. Fix: upload the whole model folder "
                             "(config.json, model.safetensors, tokenizer files) as a .zip.")


def _refuse_code_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile as e:
        raise ModelLoadError(f"'{path.name}' is a corrupt zip file ({e}). Fix: re-create it.") from None
    if any(n.endswith("archive_format") for n in names):
        return  # a torch.export archive: its family checks every member
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        raise UnsafeModelError(f"'{path.name}' is a TorchScript program, which is code and has no safe loading mode. "
                               "Fix: export the model with torch.export (.pt2) instead.")
    if path.suffix.lower() == ".keras" or any(n.endswith(".weights.h5") for n in names):
        raise UnsafeModelError(f"'{path.name}' is a Keras archive, which can carry code (Lambda layers). {_PICKLE_HELP}")
    if any(n.endswith("data.pkl") for n in names):
        raise UnsafeModelError(f"'{path.name}' is a torch.save pickle (state dict or whole model). {_PICKLE_HELP}")
