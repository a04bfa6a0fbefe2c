"""HTTP(S) downloads with a progress bar, a short timeout and no partial file left behind."""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

# Seconds to wait for a connection or for the next chunk: an unreachable host (as on machines that
# reach only package registries) must fail in seconds, not minutes.
TIMEOUT_S = float(os.environ.get("ROBUST_TICKETS_DOWNLOAD_TIMEOUT", "10"))
_CHUNK = 1 << 16
# Errors of the local disk, not of the connection: raised as they are (naming `dest`), so that
# a full disk is not reported as a failed download and the next source tried in vain.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


class DownloadError(Exception):
    """The file could not be downloaded completely; the message says why, in a few words."""


def download(url: str, dest: Path, *, timeout: float | None = None, quiet: bool = False) -> Path:
    """Download `url` to `dest`, writing to ``dest.part`` and renaming only once complete.

    Any failure (network, HTTP status, fewer bytes than Content-Length, Ctrl-C) removes the
    partial file and raises (DownloadError, or KeyboardInterrupt as is); a full or read-only
    disk raises OSError naming `dest`."""
    part = dest.with_name(dest.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": "robust-tickets"})
    try:
        with urllib.request.urlopen(request, timeout=timeout or TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            received = 0
            with (
                open(part, "wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=dest.name,
                    disable=quiet or None,  # None: only on a terminal
                    leave=False,
                ) as bar,
            ):
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise DownloadError(f"truncated: got {received} of {total} bytes")
        os.replace(part, dest)
    except urllib.error.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"cannot connect ({exc.reason})") from None
    except OSError as exc:
        part.unlink(missing_ok=True)
        if exc.errno in DISK_ERRNOS:
            raise OSError(exc.errno, exc.strerror, str(dest)) from None
        raise DownloadError(f"connection failed ({exc.__class__.__name__}: {exc})") from None
    except http.client.HTTPException as exc:  # short reads, bad status lines
        part.unlink(missing_ok=True)
        raise DownloadError(f"connection failed ({exc.__class__.__name__}: {exc})") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
