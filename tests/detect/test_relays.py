"""Privacy-relay ranges: read exactly, matched against the blocks the scan cuts."""

import pytest

from distill.detect.relays import read_ranges, relay_blocks


def test_ranges_match_v4_and_v6_blocks(tmp_path):
    f = tmp_path / "relays.txt"
    f.write_text("# iCloud-like relay exits\n172.224.0.0/12\n2a02:26f7::/32  # v6 exits\n\n")
    r = read_ranges(f)
    assert relay_blocks(["172.225.3", "172.240.0", "10.0.0", "2a02:26f7:1", "2a02:26f8:1", "bad"], r) == [
        "172.225.3", "2a02:26f7:1"]
    assert relay_blocks(["172.225.3"], []) == []


def test_a_bad_line_is_refused_naming_file_and_line(tmp_path):
    f = tmp_path / "relays.txt"
    f.write_text("10.0.0.0/8\nnot-a-range\n")
    with pytest.raises(ValueError, match=r"relays.txt:2: 'not-a-range'"):
        read_ranges(f)
