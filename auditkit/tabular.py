"""The tabular model family: an MLP with input standardisation built in, exported with `torch.export`."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn


class TabularMLP(nn.Module):
    """Standardise raw features, then Linear-ReLU layers; returns logits [batch] (binary) or [batch, n_classes].

    The standardisation is a fixed affine map (buffers), so the model takes raw feature values.
    """

    def __init__(self, n_features: int, *, hidden: Sequence[int] = (64, 64), n_classes: int = 2,
                 mean: np.ndarray | None = None, std: np.ndarray | None = None):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean if mean is not None else np.zeros(n_features), dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std if std is not None else np.ones(n_features), dtype=torch.float32))
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1 if n_classes == 2 else n_classes))
        self.net = nn.Sequential(*layers)
        self.binary = n_classes == 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net((x - self.mean) / self.std)
        return out.squeeze(-1) if self.binary else out


def export_tabular(module: nn.Module, n_features: int, path: str | Path) -> Path:
    """Save `module` as a `torch.export` program (.pt2) with a dynamic batch dimension."""
    module = module.eval()
    example = (torch.zeros(2, n_features, dtype=torch.float32),)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(module, example, dynamic_shapes=({0: batch},))
    path = Path(path)
    torch.export.save(program, str(path))
    return path
