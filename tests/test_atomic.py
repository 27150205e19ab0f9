"""Atomic writes: whole or nothing, and files get the mode the user's umask asks for."""

import os
import stat

import pytest

from verbalrec.atomic import atomic_path, write_json, write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_honour_the_umask(tmp_path, umask_022):
    write_text(tmp_path / "a.txt", "x")
    write_json(tmp_path / "b.json", {"k": 1})
    assert mode(tmp_path / "a.txt") == 0o644 and mode(tmp_path / "b.json") == 0o644
    os.umask(0o077)
    write_text(tmp_path / "c.txt", "x")
    assert mode(tmp_path / "c.txt") == 0o600


def test_a_failed_block_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_saved_log_folder_honours_the_umask(tmp_path, tiny_log, umask_022):
    from verbalrec.logs import save_log
    save_log(tiny_log, tmp_path / "log")
    assert mode(tmp_path / "log") == 0o755 and mode(tmp_path / "log" / "log.json") == 0o644
