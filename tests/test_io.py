"""Atomic writes: the old file or the new one, never half of either, no temporary left behind."""
import pytest

from lrcourse._io import atomic_path, write_bytes_atomic, write_text_atomic


def test_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "scores.csv"
    write_text_atomic(target, "a,b\n")
    write_bytes_atomic(target, b"c,d\n")
    assert target.read_text() == "c,d\n" and [p.name for p in target.parent.iterdir()] == ["scores.csv"]


def test_an_error_keeps_the_old_file(tmp_path):
    target = tmp_path / "scores.csv"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_a_folder_is_refused_before_writing(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        write_text_atomic(tmp_path, "x")
