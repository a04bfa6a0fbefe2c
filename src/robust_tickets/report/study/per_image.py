"""The study's per-image file: every network's worst case (and clean result) on every test
image, bit-packed (numpy.packbits) in a compressed .npz with a JSON index of what each row is,
so that every number of the study can be recomputed from a committed file, without the store.

    per_image.npz
        worst      uint8 [networks, ceil(n / 8)]  packed bool: robust under every attack
        clean      uint8 [networks, ceil(n / 8)]  packed bool: classified correctly
        has_clean  bool [networks]                 whether the clean result was stored
        index      str (JSON)                      format, n, attacks, experiments' configs,
                                                   one row per network (Network.index())

The zip members carry a fixed date, so the same networks give the same bytes. Several files
(one a session, say, when a store does not outlive the machine it was on) merge into one study
with `merge`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from robust_tickets.errors import UserError
from robust_tickets.report.study.networks import Collected, Network, label_methods
from robust_tickets.store import atomic_write_bytes

FORMAT = 1
_DATE = (1980, 1, 1, 0, 0, 0)


def _array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def save(path: Path, collected: Collected, attacks: tuple[str, ...]) -> None:
    networks = collected.networks
    n = networks[0].n
    empty = np.zeros(n, dtype=bool)
    arrays = {
        "worst": np.packbits(np.stack([net.worst for net in networks]), axis=1),
        "clean": np.packbits(
            np.stack([empty if net.clean is None else net.clean for net in networks]), axis=1
        ),
        "has_clean": np.array([net.clean is not None for net in networks]),
        "index": np.array(
            json.dumps(
                {
                    "format": FORMAT,
                    "n": n,
                    "attacks": list(attacks),
                    "experiments": collected.experiments,
                    "excluded": collected.excluded,
                    "networks": [net.index() for net in networks],
                },
                sort_keys=True,
            )
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, _array_bytes(array))
    atomic_write_bytes(path, buffer.getvalue())


def load(path: Path) -> tuple[Collected, tuple[str, ...]]:
    """The networks and the attacks of a per-image file; a file that is not one is a
    one-line UserError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            index = json.loads(data["index"].item())
            worst, clean, has_clean = data["worst"], data["clean"], data["has_clean"]
        if index.get("format") != FORMAT:
            raise ValueError(f"format {index.get('format')!r}, not {FORMAT}")
        n = int(index["n"])
        networks = []
        for row, info in enumerate(index["networks"]):
            networks.append(
                Network(
                    **{k: info[k] for k in _FIELDS},
                    worst=np.unpackbits(worst[row], count=n).astype(bool),
                    clean=np.unpackbits(clean[row], count=n).astype(bool)
                    if has_clean[row]
                    else None,
                )
            )
        collected = Collected(networks, list(index["excluded"]), dict(index["experiments"]))
        return collected, tuple(index["attacks"])
    except FileNotFoundError:
        raise UserError(f"--from-per-image {path} does not exist: give a per_image.npz") from None
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise UserError(
            f"--from-per-image {path} is not a study's per-image file ({reason}): give the "
            "per_image.npz that `robust-tickets study` wrote"
        ) from None


def merge(
    parts: Sequence[tuple[str, Collected, tuple[str, ...]]],
) -> tuple[Collected, tuple[str, ...]]:
    """One study from several (source, networks, attacks): the same attacks and test images in
    every part, an experiment's name meaning the same config everywhere, a network found twice
    kept once if its per-image results agree (a level lent to two files) and refused if not.
    Methods are labelled anew over all the experiments, as one store holding them would be."""
    first_source, _, attacks = parts[0]
    n = parts[0][1].networks[0].n
    experiments: dict[str, dict] = {}
    origin: dict[str, str] = {}
    networks: dict[tuple[str, int, int], tuple[str, Network]] = {}
    excluded: list[str] = []
    for source, collected, their_attacks in parts:
        if their_attacks != attacks:
            raise UserError(
                f"{source} takes the worst case over {','.join(their_attacks)}, {first_source} "
                f"over {','.join(attacks)}: merge studies of the same attacks"
            )
        if collected.networks[0].n != n:
            raise UserError(
                f"{source} has {collected.networks[0].n} test images a network, {first_source} "
                f"{n}: merge studies on the same images (study --n)"
            )
        for name, flat in collected.experiments.items():
            if name in experiments and _canonical(experiments[name]) != _canonical(flat):
                raise UserError(
                    f"experiment {name} has another config in {source} than in {origin[name]}: "
                    "these are not the same runs"
                )
            experiments.setdefault(name, flat)
            origin.setdefault(name, source)
        for net in collected.networks:
            key = (net.experiment, net.trial, net.level)
            if key in networks:
                other_source, other = networks[key]
                if not _same_results(net, other):
                    raise UserError(
                        f"{net.experiment} trial {net.trial} level {net.level} is in {source} "
                        f"and {other_source} with other per-image results: keep one of them"
                    )
                continue
            networks[key] = (source, net)
        excluded += collected.excluded
    names = label_methods(experiments)
    merged = [
        replace(net, method=names[net.experiment]) for _, (_, net) in sorted(networks.items())
    ]
    return Collected(merged, excluded, dict(sorted(experiments.items()))), attacks


def _canonical(flat: dict) -> str:
    return json.dumps(flat, sort_keys=True, default=str)


def _same_results(a: Network, b: Network) -> bool:
    cleans = (a.clean is None) == (b.clean is None) and (
        a.clean is None or np.array_equal(a.clean, b.clean)
    )
    return bool(np.array_equal(a.worst, b.worst)) and cleans


_FIELDS: tuple[str, ...] = (
    "experiment",
    "trial",
    "level",
    "remaining",
    "setting",
    "method",
    "seed",
    "eps",
    "attacks",
    "checks",
)
