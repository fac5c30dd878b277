"""Hugging Face sequence classifiers from a local folder: safetensors only, no remote code, exact weights."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from auditkit.checkpoints.handle import LoadedModel
from auditkit.checkpoints.safetensors_check import check_safetensors, read_header, refuse_json_constant
from auditkit.errors import ModelLoadError, UnsafeModelError

PICKLE_WEIGHTS = ("pytorch_model.bin", "*.pt", "*.pth", "*.ckpt", "*.bin")
_NEVER_LOAD = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth"}
_CONVERT = ("Fix: convert the weights to safetensors, e.g. in Python: "
            "AutoModelForSequenceClassification.from_pretrained(folder).save_pretrained(folder, safe_serialization=True); "
            "or pass --allow-pickle-weights to load plain state dicts with torch.load(weights_only=True).")


def check_folder(folder: Path) -> dict:
    """Refuse links, code files and remote-code configs; return the parsed config.json."""
    for p in folder.rglob("*"):
        if p.is_symlink():
            raise UnsafeModelError(f"the model folder contains a symbolic link '{p.relative_to(folder)}'. Refused. Fix: copy real files.")
        if p.suffix == ".py":
            raise UnsafeModelError(f"the model folder contains Python code '{p.relative_to(folder)}', which is never run. "
                                   "Fix: use a model whose architecture ships with transformers, without custom code.")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError("the model folder has no config.json. Fix: save the model with save_pretrained().")
    config = _read_json(config_path)
    if not isinstance(config, dict):
        raise ModelLoadError("config.json must hold a JSON object.")
    if "auto_map" in config:
        raise UnsafeModelError("config.json has an 'auto_map' entry, which asks for remote code. Refused: remote code is never run.")
    _check_config_types(config)
    from transformers import CONFIG_MAPPING

    if not isinstance(config.get("model_type"), str) or config.get("model_type") not in CONFIG_MAPPING:
        raise ModelLoadError(f"config.json names model_type {config.get('model_type')!r}, which transformers does not know. "
                             "Fix: use a standard architecture (bert, roberta, distilbert, ...).")
    return config


#: config.json fields that size the model: whole numbers (>= 1; `type_vocab_size` and `pad_token_id` may be 0).
_SIZE_FIELDS = ("num_labels", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "max_position_embeddings", "type_vocab_size", "dim", "n_layers", "n_heads",
                "hidden_dim", "pad_token_id")
_ZERO_ALLOWED = {"type_vocab_size", "pad_token_id"}
_MAX_JSON_BYTES = 64 * 2**20


def _read_json(path: Path) -> object:
    """A JSON file of the model folder: at most 64 MiB, strict UTF-8, no NaN or Infinity, not nested too deeply."""
    if path.stat().st_size > _MAX_JSON_BYTES:
        raise ModelLoadError(f"{path.name} is over {_MAX_JSON_BYTES // 2**20} MiB. Fix: re-save the model with save_pretrained().")
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse_json_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ModelLoadError(f"{path.name} is not valid JSON. Fix: re-save the model with save_pretrained().") from None


def _check_config_types(config: dict) -> None:
    """The fields that size the model are whole numbers in range, and the label maps are objects."""
    for key in _SIZE_FIELDS:
        value = config.get(key)
        if key in config and not (key == "pad_token_id" and value is None) and (type(value) is not int or value < (0 if key in _ZERO_ALLOWED else 1) or value > 2**31):
            raise ModelLoadError(f"config.json field '{key}' is {json.dumps(value)[:60]}, not a whole number "
                                 f"{'>= 0' if key in _ZERO_ALLOWED else '>= 1'}. Fix: upload the config that belongs to these weights.")
    for key in ("id2label", "label2id"):
        if key in config and not (isinstance(config[key], dict) and all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                                                      for v in config[key].values())):
            raise ModelLoadError(f"config.json field '{key}' must be an object of labels. Fix: upload the config that belongs to these weights.")


def _safetensors_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        content = _read_json(index)
        weight_map = content.get("weight_map") if isinstance(content, dict) else None
        if not isinstance(weight_map, dict) or not weight_map or not all(isinstance(v, str) for v in weight_map.values()):
            raise ModelLoadError("model.safetensors.index.json is malformed: its 'weight_map' must map tensor names to "
                                 "shard file names. Fix: re-save the model with save_pretrained().")
        shards = sorted(set(weight_map.values()))
        files = [folder / s for s in shards]
        missing = [f.name for f in files if not f.is_file() or f.parent != folder]
        if missing:
            raise ModelLoadError(f"the shard index lists files that are missing: {', '.join(missing)}.")
        return files
    return sorted(folder.glob("*.safetensors"))


def check_weights(folder: Path, *, allow_pickle_weights: bool = False, budget_gb: int = 8) -> list[Path]:
    """The safetensors files to load, their headers checked against the budget; or, with the opt-in, the one
    pickled state dict to read with the weights-only unpickler. Reads headers only."""
    weights = _safetensors_files(folder)
    for w in weights:
        check_safetensors(w, budget_bytes=budget_gb * 2**30)
    if weights:
        return weights
    pickles = [p for pattern in PICKLE_WEIGHTS for p in folder.glob(pattern) if p.name not in _NEVER_LOAD]
    if not pickles:
        raise ModelLoadError("the model folder has no weights (model.safetensors). Fix: include the weights file.")
    if not allow_pickle_weights:
        raise UnsafeModelError(f"'{pickles[0].name}' is a pickle file, and pickles can run code, so it is not loaded. {_CONVERT}")
    return pickles[:1]


def load_hf(folder: Path, sha256: str, *, allow_pickle_weights: bool = False, budget_gb: int = 8) -> LoadedModel:
    """Load a sequence classifier and its tokenizer from `folder` without running any of its code."""
    check_folder(folder)
    weights = check_weights(folder, allow_pickle_weights=allow_pickle_weights, budget_gb=budget_gb)
    os.environ["HF_HUB_OFFLINE"] = "1"
    safetensors = weights[0].suffix == ".safetensors"
    module = _from_pretrained(folder) if safetensors else _from_state_dict(folder, weights[0])
    if safetensors:
        check_dtypes(module, weights)
    tokenizer = _tokenizer(folder, module)
    n_outputs = int(module.config.num_labels)
    labels = tuple(str(module.config.id2label[i]) for i in range(n_outputs)) if module.config.id2label else None
    max_length = min(int(getattr(tokenizer, "model_max_length", 512) or 512),
                     int(getattr(module.config, "max_position_embeddings", 512) or 512))
    return LoadedModel(kind="text", module=module, sha256=sha256, fmt="hf-safetensors" if safetensors else "hf-state-dict",
                       n_outputs=n_outputs, class_names=labels, tokenizer=tokenizer, max_length=max_length)


def _from_pretrained(folder: Path) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    try:
        module, info = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=True, trust_remote_code=False, local_files_only=True, output_loading_info=True)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError, IndexError, ZeroDivisionError,
            OverflowError) as e:  # a config of valid types can still describe an impossible model
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ModelLoadError(f"the model cannot be loaded: {first}. Fix: check that the weights match config.json.") from None
    _check_loading_info(info)
    return module.eval()


_TORCH_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn",
                 "F8_E5M2": "float8_e5m2", "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
                 "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool"}


def check_dtypes(module: torch.nn.Module, weights: list[Path]) -> None:
    """Every stored tensor has the dtype of the model tensor it is loaded into (a floating-point tensor the model
    does not name: the model's floating-point dtype); transformers would otherwise read its bytes as another
    type, or cast integers into weights. `ModelLoadError` naming the tensor."""
    state = module.state_dict()
    floating = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    for path in weights:
        header, _ = read_header(path)
        for name, meta in header.items():
            stored = _TORCH_DTYPES[meta["dtype"]]
            expected = state[name].dtype if name in state else floating if stored.startswith(("float", "bfloat")) else None
            if expected is not None and stored != str(expected).removeprefix("torch."):
                raise ModelLoadError(f"'{path.name}': tensor '{name}' is stored as {meta['dtype']} ({stored}) but the model "
                                     f"holds it as {str(expected).removeprefix('torch.')}; its bytes would be read as the "
                                     "wrong type. Refused. Fix: re-save the weights with save_pretrained().")


def _check_loading_info(info: dict) -> None:
    problems = {k: list(info.get(k) or []) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        detail = "; ".join(f"{k.replace('_', ' ')}: {', '.join(map(str, v[:5]))}{' ...' if len(v) > 5 else ''}" for k, v in problems.items())
        raise ModelLoadError(f"the weights do not match config.json ({detail}). Nothing was randomly initialised; "
                             "Fix: upload the config that belongs to these weights.")


def _from_state_dict(folder: Path, weights: Path) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        state = torch.load(weights, weights_only=True, map_location="cpu", mmap=True)
    except Exception as e:  # the restricted unpickler rejects anything but tensors and containers
        raise UnsafeModelError(f"'{weights.name}' is not a plain state dict (weights-only loading refused it: {type(e).__name__}). "
                               "Full-model pickles are never loaded. Fix: save model.state_dict() or use safetensors.") from None
    if not isinstance(state, dict):
        raise UnsafeModelError(f"'{weights.name}' does not hold a state dict. Fix: save model.state_dict() or use safetensors.")
    config = AutoConfig.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
    module = AutoModelForSequenceClassification.from_config(config)
    result = module.load_state_dict(state, strict=False)
    _check_loading_info({"missing_keys": [k for k in result.missing_keys if not k.endswith("position_ids")],
                         "unexpected_keys": result.unexpected_keys})
    return module.eval()


_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def _tokenizer(folder: Path, module: torch.nn.Module):
    from transformers import AutoTokenizer

    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelLoadError("the model folder has no usable tokenizer (no tokenizer.json or vocabulary file). "
                             "Fix: save the tokenizer next to the model with tokenizer.save_pretrained(folder).")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelLoadError(f"the model folder has no usable tokenizer ({str(e).splitlines()[0]}). "
                             "Fix: save the tokenizer next to the model with tokenizer.save_pretrained(folder).") from None
    vocab = int(getattr(module.config, "vocab_size", 0) or 0)
    if vocab and len(tokenizer) > vocab:
        raise ModelLoadError(f"the tokenizer has {len(tokenizer)} tokens but the model only {vocab} embeddings. Fix: upload the matching tokenizer.")
    return tokenizer
