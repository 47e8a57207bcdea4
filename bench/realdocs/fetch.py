"""Rebuild the real-document corpus from Debian packages pinned in documents.lock.json.

    python bench/realdocs/fetch.py [CORPUS_DIR] [--cache DIR] [--relock]

Each package is downloaded once from its pool URL on deb.debian.org (bookworm), its .deb checked
against the pinned sha256, and the pinned files taken out of its data archive (ar + tarfile, so no
dpkg is needed), gunzipped where the lock says so, checked against their own sha256 and written
under CORPUS_DIR (default bench/realdocs/corpus/, git-ignored) with the corpus name the lock gives.
A file already there with the right hash is left alone, and a .deb already in the cache is not
downloaded again, so a second run needs no network.  A hash mismatch stops the run with a message
naming the package or file: the QA set's evidence strings were copied from exactly these bytes.

``--relock`` is for whoever adds a document: it fills in the sha256 of entries that have none
(trust on first use) and rewrites the lock; entries that have one are still verified.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCK = HERE / "documents.lock.json"
DEFAULT_CORPUS = HERE / "corpus"
DEFAULT_CACHE = HERE / ".cache"
MIRROR = "https://deb.debian.org/debian/"


class FetchError(Exception):
    """The corpus cannot be rebuilt as locked: a download failed or a hash does not match."""


@dataclass(frozen=True)
class Document:
    """One file taken from a package: where it is inside, its corpus name and its hash."""

    path: str  # inside the package, e.g. ./usr/share/R/doc/manual/R-data.pdf
    name: str  # in the corpus, unique
    sha256: str | None  # of the corpus file (after gunzip)

    @property
    def gunzip(self) -> bool:
        return self.path.endswith(".gz") and not self.name.endswith(".gz")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download(url: str, target: Path) -> None:
    """Download ``url`` to ``target`` (through a temporary name, so a break leaves nothing)."""
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=120) as response, partial.open("wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(f"cannot download {url}: {exc}") from None
    partial.replace(target)


def deb_members(deb: bytes) -> dict[str, bytes]:
    """The members of a .deb, which is an ar archive (control, data, debian-binary)."""
    if not deb.startswith(b"!<arch>\n"):
        raise FetchError("not an ar archive")
    members: dict[str, bytes] = {}
    pos = 8
    while pos + 60 <= len(deb):
        header = deb[pos : pos + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        members[name] = deb[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size % 2)  # members are aligned to even offsets
    return members


def data_files(deb: bytes, wanted: set[str]) -> dict[str, bytes]:
    """The contents of the ``wanted`` paths in the .deb's data archive."""
    data = next((v for k, v in deb_members(deb).items() if k.startswith("data.tar")), None)
    if data is None:
        raise FetchError("no data.tar member")
    found: dict[str, bytes] = {}
    # Mode "r:*" reads the xz, gzip and bzip2 data members of bookworm's packages.
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar:
            if member.name in wanted and member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    found[member.name] = extracted.read()
    return found


def fetch_package(
    package: dict[str, object], corpus: Path, cache: Path, *, relock: bool
) -> list[str]:
    """Write the package's documents into ``corpus``; return what it did, one line per file."""
    name, version = str(package["package"]), str(package["version"])
    documents = [Document(**d) for d in package["documents"]]  # type: ignore[attr-defined]
    todo = [d for d in documents if not _verified(corpus / d.name, d.sha256)]
    if not todo:
        return [f"{d.name}: ok" for d in documents]
    deb_path = cache / str(package["url"]).rsplit("/", 1)[-1]
    if not deb_path.exists():
        download(str(package["url"]), deb_path)
    deb = deb_path.read_bytes()
    if sha256_of(deb) != package["sha256"]:
        raise FetchError(
            f"{name} {version}: the .deb's sha256 is {sha256_of(deb)}, the lock says "
            f"{package['sha256']} (delete {deb_path} to download it again)"
        )
    files = data_files(deb, {d.path for d in todo})
    lines = []
    for doc in todo:
        if doc.path not in files:
            raise FetchError(f"{name} {version} has no file {doc.path}")
        content = gzip.decompress(files[doc.path]) if doc.gunzip else files[doc.path]
        digest = sha256_of(content)
        if doc.sha256 is None and relock:
            _set_hash(package, doc.name, digest)
        elif digest != doc.sha256:
            raise FetchError(
                f"{doc.name} (from {name} {version}): sha256 {digest}, lock {doc.sha256}"
            )
        (corpus / doc.name).write_bytes(content)
        lines.append(f"{doc.name}: written ({len(content):,} bytes)")
    return lines + [f"{d.name}: ok" for d in documents if d not in todo]


def _verified(path: Path, sha256: str | None) -> bool:
    return sha256 is not None and path.is_file() and sha256_of(path.read_bytes()) == sha256


def _set_hash(package: dict[str, object], name: str, digest: str) -> None:
    for entry in package["documents"]:  # type: ignore[attr-defined]
        if entry["name"] == name:
            entry["sha256"] = digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where .debs are kept")
    parser.add_argument("--lock", type=Path, default=LOCK)
    parser.add_argument("--relock", action="store_true", help="fill in missing file hashes")
    args = parser.parse_args(argv)
    lock = json.loads(args.lock.read_text(encoding="utf-8"))
    names = [d["name"] for p in lock["packages"] for d in p["documents"]]
    if len(names) != len(set(names)):
        print("error: two documents share a corpus name", file=sys.stderr)
        return 2
    args.corpus.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    try:
        for package in lock["packages"]:
            for line in fetch_package(package, args.corpus, args.cache, relock=args.relock):
                print(f"{package['package']}: {line}")
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.relock:
        args.lock.write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    print(f"{len(names)} documents in {args.corpus}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
