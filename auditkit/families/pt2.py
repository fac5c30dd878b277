"""Tabular `torch.export` programs (.pt2): float32 [batch, n_features] in, logits out."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from auditkit.checkpoints.handle import LoadedModel
from auditkit.checkpoints.pt2 import inspect_pt2, is_pt2, load_pt2
from auditkit.config import Settings
from auditkit.families.base import ModelFamily, ModelInfo, Progress
from auditkit.families.registry import register
from auditkit.families.torch_forward import floating_dtype, forward_batches, parameter_count
from auditkit.errors import SettingsError


class TabularProgram(ModelFamily):
    name = "pt2"
    kind = "tabular"
    description = "a .pt2 file (a tabular model saved with torch.export)"
    input_role = "features"
    batch_sizes = {"cpu": 8192, "cuda": 65536, "mps": 8192}
    membership_from_predictions = False
    membership_rows = 20_000

    def sniff(self, path: Path) -> bool:
        if not path.is_file() or not zipfile.is_zipfile(path):
            return False
        try:
            with zipfile.ZipFile(path) as zf:
                return is_pt2(zf)
        except (zipfile.BadZipFile, OSError):
            return False

    def prepare(self, path: Path, sha256: str, settings: Settings, **options: Any) -> Path:
        inspect_pt2(path, settings)
        return path

    def load(self, path: Path, sha256: str, settings: Settings, **options: Any) -> LoadedModel:
        return load_pt2(path, sha256, settings)

    def info(self, model: LoadedModel) -> ModelInfo:
        return ModelInfo(self.name, model.sha256, model.fmt, model.n_outputs, model.class_names,
                         n_features=model.n_features, parameters=parameter_count(model.module))

    def forward(self, model: LoadedModel, inputs: Any, *, batch_size: int, device: str,
                progress: Progress | None) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(np.asarray(inputs, dtype=np.float32)))
        if x.ndim != 2 or (model.n_features and x.shape[1] != model.n_features):
            raise SettingsError(f"the model takes {model.n_features} features but the data has shape {tuple(x.shape)}. "
                                "Fix: choose the feature columns in the model's input order (--features).")
        return forward_batches(model.module, len(x), lambda mod, a, b, dev: mod(x[a:b].to(dev, floating_dtype(mod))),
                               batch_size=batch_size, device=device, progress=progress)

    def membership(self, model: LoadedModel, members: Any, y_members: np.ndarray, nonmembers: Any,
                   y_nonmembers: np.ndarray, **options: Any) -> Any:
        from auditkit.privacy.membership import membership_audit

        return membership_audit(model.module, members, y_members, nonmembers, y_nonmembers, **options)

    def explain(self, ctx: Any, *, max_rows: int | None = None) -> Any:
        """DeepSHAP in logit units over at most `settings.explain_rows` seeded rows against a 100-row seeded
        background, with permutation-importance and LRP cross-checks."""
        from auditkit.explain.section import BACKGROUND_ROWS, explanation_key
        from auditkit.explain.tabular import explain_tabular_audit

        rows = max_rows or ctx.settings.explain_rows
        return ctx.once(explanation_key(self.kind, rows), lambda: explain_tabular_audit(
            ctx, max_rows=rows, background_size=BACKGROUND_ROWS))


FAMILY = register(TabularProgram())
