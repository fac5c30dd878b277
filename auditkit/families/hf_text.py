"""Hugging Face sequence classifiers: a folder or .zip with config.json, safetensors weights and tokenizer files."""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from auditkit.checkpoints.archive import extract_zip
from auditkit.checkpoints.handle import LoadedModel
from auditkit.checkpoints.hf import check_folder, check_weights, load_hf
from auditkit.checkpoints.pt2 import is_pt2
from auditkit.config import Settings
from auditkit.errors import ModelLoadError
from auditkit.families.base import ModelFamily, ModelInfo, Progress
from auditkit.families.registry import register
from auditkit.families.torch_forward import forward_batches, parameter_count


class TextClassifier(ModelFamily):
    name = "hf-text"
    kind = "text"
    description = "a Hugging Face text classifier (a folder, or a .zip of it, with config.json, safetensors weights and tokenizer files)"
    input_role = "text"
    batch_sizes = {"cpu": 32, "cuda": 256, "mps": 64}
    membership_from_predictions = True
    membership_rows = 5_000

    def sniff(self, path: Path) -> bool:
        if path.is_dir():
            return True  # a model folder: check_folder says what is missing
        if not path.is_file() or not zipfile.is_zipfile(path):
            return False
        try:
            with zipfile.ZipFile(path) as zf:
                return not is_pt2(zf) and any(n.endswith("config.json") for n in zf.namelist())
        except (zipfile.BadZipFile, OSError):
            return False

    def prepare(self, path: Path, sha256: str, settings: Settings, *, allow_pickle_weights: bool = False) -> Path:
        def check(folder: Path) -> None:
            check_folder(folder)
            check_weights(folder, allow_pickle_weights=allow_pickle_weights, budget_gb=settings.max_model_gb)

        if not path.is_dir():
            return _extracted(path, sha256, settings, check)
        check(path)
        return path

    def load(self, path: Path, sha256: str, settings: Settings, *, allow_pickle_weights: bool = False) -> LoadedModel:
        """`allow_pickle_weights`: plain state dicts, read with the weights-only unpickler, on the caller's opt-in."""
        return load_hf(path, sha256, allow_pickle_weights=allow_pickle_weights, budget_gb=settings.max_model_gb)

    def info(self, model: LoadedModel) -> ModelInfo:
        layers = int(getattr(model.module.config, "num_hidden_layers", 0) or 0)
        return ModelInfo(self.name, model.sha256, model.fmt, model.n_outputs, model.class_names,
                         max_length=model.max_length, parameters=parameter_count(model.module), encoder_layers=layers)

    def forward(self, model: LoadedModel, inputs: Any, *, batch_size: int, device: str,
                progress: Progress | None) -> np.ndarray:
        tok = model.tokenizer
        encoded = tok(list(inputs), truncation=True, max_length=model.max_length)["input_ids"]
        order = np.argsort([-len(ids) for ids in encoded], kind="stable")

        def batch(module: Any, a: int, b: int, dev: Any) -> Any:
            padded = tok.pad({"input_ids": [encoded[i] for i in order[a:b]]}, return_tensors="pt")
            return module(**{k: v.to(dev) for k, v in padded.items()}).logits

        logits = forward_batches(model.module, len(encoded), batch, batch_size=batch_size, device=device,
                                 progress=progress, order=order)
        return logits.reshape(len(encoded), model.n_outputs).squeeze(-1) if model.n_outputs == 1 else logits

    def membership(self, model: LoadedModel, members: Any, y_members: np.ndarray, nonmembers: Any,
                   y_nonmembers: np.ndarray, **options: Any) -> Any:
        from auditkit.privacy.membership import membership_audit_text

        return membership_audit_text(model.module, model.tokenizer, list(members), y_members, list(nonmembers),
                                     y_nonmembers, max_length=model.max_length, **options)

    def explain(self, ctx: Any, *, max_rows: int | None = None) -> Any:
        """Partition SHAP over at most `settings.explain_text_rows` seeded texts (a few seconds per text for
        MiniLM on 2 CPU cores)."""
        from auditkit.explain.section import explanation_key
        from auditkit.explain.text import explain_text_audit

        rows = max_rows or ctx.settings.explain_text_rows
        return ctx.once(explanation_key(self.kind, rows), lambda: explain_text_audit(ctx, max_rows=rows))


def _extracted(path: Path, sha: str, settings: Settings, check: Callable[[Path], None]) -> Path:
    """Extract a model zip once into the content-addressed model folder of the workspace, passing `check` first:
    a zip that fails extraction or `check` leaves nothing in the workspace."""
    home = settings.path("models")
    final = home / sha
    if final.is_dir():
        root = _root(final, path)
        check(root)
        return root
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=home))
    try:
        extract_zip(path, staging, settings)
        root = _root(staging, path)
        check(root)
        if not final.exists():
            staging.replace(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return final / root.relative_to(staging)


def _root(folder: Path, path: Path) -> Path:
    """The model folder inside an extracted zip: its one top-level folder, or the extraction folder itself."""
    entries = [p for p in folder.iterdir() if p.name != "__MACOSX"]
    if not entries:
        raise ModelLoadError(f"'{path.name}' is an empty zip. Fix: zip the model folder.")
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


FAMILY = register(TextClassifier())
