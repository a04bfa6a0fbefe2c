"""Reader (and writer, for tests and conversions) of the IDX format used by MNIST-style datasets.

Format: 2 zero bytes, a type code, the number of dimensions, then one big-endian uint32 per
dimension, then the values in C order. Files may be gzipped; we detect it by magic bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from robust_tickets.errors import UserError

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}
_FIX = "delete it and fetch it again"


def read_bytes(path: Path, fix: str = _FIX) -> bytes:
    """The file's content, gunzipped if it is gzip; a truncated gzip is a UserError ending
    with `fix`."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise UserError(f"{path} is a damaged or truncated gzip file ({exc}): {fix}") from None


def parse_idx(data: bytes, source: str = "<bytes>", fix: str = _FIX) -> np.ndarray:
    """Parse IDX bytes into an array; malformed input is a one-line UserError naming `source`."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise UserError(f"{source} is not an IDX file (bad magic number): {fix}")
    dtype = _DTYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{source} has a truncated IDX header: {fix}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise UserError(
            f"{source} holds {len(data) - header} data bytes but its header "
            f"{tuple(shape)} needs {expected}: {fix}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable, native-order copy


def read_verified(
    path: Path,
    expected_sha256: str,
    shape: tuple[int, ...],
    fix: str = "delete it and fetch it again",
) -> np.ndarray:
    """Read one IDX file, check its decompressed SHA-256 and shape; any mismatch is a UserError
    naming the file and ending with `fix` (how to get a good copy)."""
    data = read_bytes(path, fix)
    array = parse_idx(data, str(path), fix)
    if tuple(array.shape) != shape:
        raise UserError(f"{path} has shape {tuple(array.shape)}, expected {shape}: {fix}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise UserError(
            f"{path} failed its SHA-256 check (got {digest[:12]}…, expected "
            f"{expected_sha256[:12]}…): {fix}"
        )
    return array


def read_idx(path: str | Path) -> np.ndarray:
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for `array` (uint8, int8, int16, int32, float32 or float64)."""
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    code = _CODES.get(np.dtype(dtype))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool = False) -> None:
    data = encode_idx(array)
    Path(path).write_bytes(gzip.compress(data) if compress else data)
