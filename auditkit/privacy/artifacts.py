"""Write a DP-trained tabular model and its privacy record: model.safetensors, model.pt2, privacy.json."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from auditkit.errors import ModelLoadError
from auditkit.hashing import sha256_file
from auditkit.privacy.training import DPResult
from auditkit.tabular import TabularMLP, export_tabular

FORMAT = "auditkit.TabularMLP"


def _architecture(model: nn.Module, n_features: int) -> dict[str, str]:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    n_out = linears[-1].out_features
    return {"format": FORMAT, "n_features": str(n_features),
            "hidden": ",".join(str(m.out_features) for m in linears[:-1]),
            "n_classes": str(2 if n_out == 1 else n_out)}


def write_json(path: Path, payload: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".privacy-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)


def save_dp_artifacts(result: DPResult, out_dir: str | Path, *, export: bool = True,
                      extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Save the weights (safetensors, architecture in its metadata), a `torch.export` program that the audit
    loads (`export=True`, TabularMLP only) and `privacy.json` (the record plus `extra`). Returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = result.model.eval()
    paths = {"weights": out / "model.safetensors", "record": out / "privacy.json"}
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    metadata = _architecture(model, result.n_features) if isinstance(model, TabularMLP) else {}
    save_file(state, str(paths["weights"]), metadata=metadata)
    if export and isinstance(model, TabularMLP):
        paths["program"] = export_tabular(model, result.n_features, out / "model.pt2")
    record = {"dp_training": result.to_dict(), "files": {k: p.name for k, p in paths.items()},
              "sha256": {k: sha256_file(p) for k, p in paths.items() if k != "record"}}
    if metadata:
        record["model"] = metadata
    record.update(extra or {})
    write_json(paths["record"], record)
    return paths


def trained_part(result: DPResult) -> str:
    """Which part of a text classifier DP fine-tuning trained, in words."""
    n = result.trainable_layers
    if n == 0:
        return "classifier head (encoder frozen)"
    return (f"classifier head, pooler and the last {n} encoder layer{'s' if n > 1 else ''} "
            f"({', '.join(result.trained_modules)}); embeddings and earlier layers frozen")


def save_dp_text_artifacts(result: DPResult, tokenizer: Any, out_dir: str | Path, *,
                           extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Save a DP fine-tuned Hugging Face classifier as a folder (config, model.safetensors, tokenizer) that the
    audit loads, and `privacy.json` beside the weights."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    paths = {"weights": out / "model.safetensors", "record": out / "privacy.json"}
    record = {"dp_training": result.to_dict() | {"trained_part": trained_part(result)},
              "files": {k: p.name for k, p in paths.items()}, "sha256": {"weights": sha256_file(paths["weights"])}}
    record.update(extra or {})
    write_json(paths["record"], record)
    return paths


def load_dp_weights(path: str | Path) -> TabularMLP:
    """Rebuild the TabularMLP saved by `save_dp_artifacts` from its safetensors file."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise ModelLoadError(f"'{Path(path).name}' was not written by save_dp_artifacts (no {FORMAT} metadata). "
                             "Fix: load it with the code that defined its architecture.")
    hidden = tuple(int(h) for h in meta["hidden"].split(",") if h)
    model = TabularMLP(int(meta["n_features"]), hidden=hidden, n_classes=int(meta["n_classes"]))
    model.load_state_dict(load_file(str(path)))
    return model.eval()
