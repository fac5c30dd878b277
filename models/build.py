"""Build the demos on first use, cached in `<home>/demo/{lending,reviews}`.

Each demo folder holds `data.csv`, the model (`model.pt2` or the Hugging Face folder `model/`) and `recipe.json`
(recipe version, seed, audit spec, ground truth, training metrics, file hashes). A demo is rebuilt only when its
recipe version or seed changed or a file is missing or altered. Builds happen in a temporary folder next to the
target and are moved into place at the end, so an interrupted build never leaves a half demo.

Run `python -m models.build [--home DIR] [--only lending|reviews] [--force]`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from auditkit.config import default_home
from auditkit.data.spec import AuditSpec
from auditkit.hashing import sha256_path
from auditkit.tabular import export_tabular

from models import lending, reviews

RECIPE_VERSION = 1
Progress = Callable[[str, float], None]
_STALE_TEMP_SECONDS = 3600


def _report(progress: Progress | None, message: str, fraction: float) -> None:
    if progress is not None:
        progress(message, fraction)


def _paths(folder: Path, model_name: str) -> dict[str, Path]:
    return {"dir": folder, "data": folder / "data.csv", "model": folder / model_name, "recipe": folder / "recipe.json"}


def _is_current(paths: dict[str, Path], seed: int, n: int) -> bool:
    """True when the folder holds a complete build of this recipe version, seed and size with unaltered files."""
    try:
        recipe = json.loads(paths["recipe"].read_text())
    except (OSError, ValueError):
        return False
    if (recipe.get("recipe_version"), recipe.get("seed"), recipe.get("n_rows")) != (RECIPE_VERSION, seed, n):
        return False
    hashes = recipe.get("sha256", {})
    for key in ("data", "model"):
        path = paths[key]
        if not path.exists() or hashes.get(path.name) != sha256_path(path):
            return False
    return True


def _clean_stale_temps(root: Path, name: str) -> None:
    """Remove temporary build folders left behind by interrupted builds (older than an hour)."""
    now = time.time()
    for stale in root.glob(f".{name}-*"):
        if stale.is_dir() and now - stale.stat().st_mtime > _STALE_TEMP_SECONDS:
            shutil.rmtree(stale, ignore_errors=True)


def _build(home: Path, name: str, model_name: str, seed: int, n: int, force: bool, progress: Progress | None,
           make: Callable[[Path], dict]) -> dict[str, Path]:
    root = Path(home) / "demo"
    root.mkdir(parents=True, exist_ok=True)
    final = _paths(root / name, model_name)
    if not force and _is_current(final, seed, n):
        _report(progress, f"{name} demo ready (cached)", 1.0)
        return final
    _clean_stale_temps(root, name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-build-", dir=root))
    try:
        started = time.perf_counter()
        recipe = make(tmp)
        staged = _paths(tmp, model_name)
        recipe.update(recipe_version=RECIPE_VERSION, seed=seed, n_rows=n,
                      build_seconds=round(time.perf_counter() - started, 1),
                      sha256={staged[k].name: sha256_path(staged[k]) for k in ("data", "model")})
        staged["recipe"].write_text(json.dumps(recipe, indent=2, sort_keys=False))
        if final["dir"].exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=root))
            os.replace(final["dir"], old / name)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, final["dir"])
    except OSError:
        if _is_current(final, seed, n):  # another process finished the same build first
            return final
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _report(progress, f"{name} demo ready", 1.0)
    return final


def build_lending(home: Path, *, seed: int = 0, n: int = 20000, force: bool = False,
                  progress: Progress | None = None) -> dict[str, Path]:
    """Build (or reuse) the lending demo: `data.csv`, `model.pt2`, `recipe.json`. Returns their paths and `dir`."""
    def make(folder: Path) -> dict:
        _report(progress, "Generating the lending data set", 0.05)
        df = lending.generate(n, seed)
        df.to_csv(folder / "data.csv", index=False)
        _report(progress, "Training the lending model", 0.2)
        model = lending.train(df, seed=seed)
        export_tabular(model, len(lending.FEATURES), folder / "model.pt2")
        _report(progress, "Evaluating the lending model", 0.9)
        spec = AuditSpec(target=lending.TARGET, sensitive=lending.SENSITIVE, features=lending.FEATURES,
                         positive_label=lending.POSITIVE_LABEL)
        return {"name": "lending", "description": lending.__doc__.strip(),
                "spec": spec.roles(), "split_column": lending.SPLIT,
                "model": {"file": "model.pt2", "format": "torch.export", "kind": "tabular",
                          "n_features": len(lending.FEATURES), "output": "logit of approved == 1"},
                "ground_truth": lending.GROUND_TRUTH, "metrics": lending.evaluate(model, df)}

    return _build(home, "lending", "model.pt2", seed, n, force, progress, make)


def build_reviews(home: Path, *, seed: int = 0, n: int = 4000, force: bool = False,
                  progress: Progress | None = None) -> dict[str, Path]:
    """Build (or reuse) the reviews demo: `data.csv`, `model/` (Hugging Face folder), `recipe.json`."""
    def make(folder: Path) -> dict:
        _report(progress, "Generating the reviews data set", 0.02)
        df = reviews.generate(n, seed)
        df.to_csv(folder / "data.csv", index=False)
        _report(progress, "Fine-tuning MiniLM on the reviews (a few minutes)", 0.05)
        model_dir = reviews.train(df, folder / "model", seed=seed)
        _report(progress, "Evaluating the reviews model", 0.85)
        spec = AuditSpec(target=reviews.TARGET, sensitive=reviews.SENSITIVE, text_column=reviews.TEXT,
                         positive_label=reviews.POSITIVE_LABEL)
        return {"name": "reviews", "description": reviews.__doc__.strip(),
                "spec": spec.roles(), "split_column": reviews.SPLIT,
                "model": {"file": "model", "format": "huggingface", "kind": "text",
                          "base": "sentence-transformers/all-MiniLM-L6-v2", "max_length": reviews.MAX_LENGTH,
                          "id2label": {"0": "negative", "1": "positive"}},
                "ground_truth": reviews.GROUND_TRUTH, "metrics": reviews.evaluate(model_dir, df)}

    return _build(home, "reviews", "model", seed, n, force, progress, make)


def build_demo(home: Path, *, progress: Progress | None = None) -> dict[str, Path]:
    """Build (or reuse) both demos; returns the `lending` and `reviews` folders."""
    def part(lo: float, hi: float) -> Progress | None:
        if progress is None:
            return None
        return lambda message, fraction: progress(message, lo + (hi - lo) * fraction)

    lending_paths = build_lending(home, progress=part(0.0, 0.1))
    reviews_paths = build_reviews(home, progress=part(0.1, 1.0))
    return {"lending": lending_paths["dir"], "reviews": reviews_paths["dir"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.build", description="Build the built-in demos.")
    parser.add_argument("--home", type=Path, default=None,
                        help="workspace folder (default: $AUDITKIT_HOME or ~/.auditkit)")
    parser.add_argument("--only", choices=("lending", "reviews"), help="build one demo only")
    parser.add_argument("--force", action="store_true", help="rebuild even when a current build exists")
    args = parser.parse_args(argv)
    home = args.home or default_home()

    def show(message: str, fraction: float) -> None:
        print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)

    builders = {"lending": build_lending, "reviews": build_reviews}
    for name in ([args.only] if args.only else list(builders)):
        started = time.perf_counter()
        paths = builders[name](home, force=args.force, progress=show)
        metrics = json.loads(paths["recipe"].read_text())["metrics"]
        print(f"{name}: {paths['dir']} ({time.perf_counter() - started:.1f} s, "
              f"test accuracy {metrics['accuracy']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
