import gzip

import numpy as np
import pytest

from robust_tickets.data.idx import encode_idx, read_idx, write_idx
from robust_tickets.errors import UserError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_roundtrip(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "a.idx"
    write_idx(path, array, compress=compress)
    back = read_idx(path)
    assert back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_header_layout():
    data = encode_idx(np.zeros((60000,), dtype=np.uint8))
    assert data[:4] == b"\x00\x00\x08\x01"
    assert int.from_bytes(data[4:8], "big") == 60000


def test_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(UserError, match="bad magic"):
        read_idx(path)


def test_wrong_length(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(encode_idx(np.zeros((10, 4), dtype=np.uint8))[:-3])
    with pytest.raises(UserError, match="needs 40"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "trunc.gz"
    path.write_bytes(gzip.compress(encode_idx(np.zeros((100, 5), dtype=np.uint8)))[:-10])
    with pytest.raises(UserError, match="truncated gzip"):
        read_idx(path)
