"""The built-in demos: built by the recipes in the repository's `models/` folder on first use, then reused."""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from auditkit.config import Settings
from auditkit.data.spec import AuditSpec
from auditkit.errors import AuditkitError

DemoProgress = Callable[[str, float], None]


@dataclass(frozen=True)
class Demo:
    title: str
    short: str
    description: str
    builder: str


DEMOS: dict[str, Demo] = {
    "lending": Demo("Loan approvals (tabular)", "lending",
                    "20,000 synthetic loan applications and a neural network that approves or denies them. "
                    "Historical bias against women and one ethnic group is injected into the labels.", "build_lending"),
    "reviews": Demo("Review sentiment (text)", "reviews",
                    "Template-built product reviews mentioning gender, religion and nationality, and a MiniLM "
                    "sentiment classifier fine-tuned on them with an injected identity-term bias.", "build_reviews"),
}


def demo_audit(name: str, settings: Settings | None = None, *,
               progress: DemoProgress | None = None) -> tuple[Path, Path, AuditSpec]:
    """Build (or reuse) demo `name`; return its data path, model path and audit spec."""
    if name not in DEMOS:
        raise AuditkitError(f"unknown demo {name!r}. Fix: choose one of {', '.join(DEMOS)}.")
    settings = settings or Settings.from_env()
    try:
        build = importlib.import_module("models.build")
    except ImportError:
        raise AuditkitError("the demo recipes (the models/ folder) are not importable. "
                            "Fix: run AuditKit from the repository root.") from None
    paths = getattr(build, DEMOS[name].builder)(settings.home, progress=progress)
    recipe = json.loads(paths["recipe"].read_text())
    roles = recipe["spec"]
    spec = AuditSpec(target=roles["target"], sensitive=tuple(roles["sensitive"]), features=tuple(roles["features"]),
                     text_column=roles["text_column"], positive_label=str(roles["positive_label"]))
    return paths["data"], paths["model"], spec


def ground_truth(name: str, settings: Settings | None = None) -> dict:
    """The injected biases stated by a built demo's recipe."""
    settings = settings or Settings.from_env()
    return json.loads((settings.home / "demo" / name / "recipe.json").read_text())["ground_truth"]
