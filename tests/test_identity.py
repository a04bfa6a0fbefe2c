"""Existing run directories keep their names: every config in tests/golden/identities.json
(the presets, every job of configs/*.yaml, the golden runs and variants of every pruning
component and setting) was recorded before settings moved into their components (issue 23),
with its name, hash and the config.yaml it stored. Built from its flat fields, or read back from
that stored config, it must still get exactly that name and hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robust_tickets.resolve import config_from_dict, from_flat

ENTRIES = json.loads((Path(__file__).parent / "golden" / "identities.json").read_text())


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_flat_fields_keep_the_recorded_name_and_hash(entry):
    config = from_flat(entry["given"])
    assert (config.name(), config.hash()) == (entry["name"], entry["hash"]), entry["label"]
    assert config.legacy_name() == entry["legacy_name"]


STORED = [e for e in ENTRIES if "stored" in e]


@pytest.mark.parametrize("entry", STORED, ids=[e["name"] for e in STORED])
def test_a_stored_config_reads_back_under_its_recorded_name(entry):
    config = config_from_dict(entry["stored"])
    assert (config.name(), config.hash()) == (entry["name"], entry["hash"])
    assert config == from_flat(entry["given"])
    assert config_from_dict(config.to_dict()) == config  # today's format round-trips too
