"""safe_join: a name from outside (S3 key, channel, member, program) joined to its folder never leaves it."""

from __future__ import annotations

import os

import pytest

from shipyard.domain.paths import safe_join, under_opt_ml
from shipyard.errors import UnsafePath, ValidationError
from shipyard.runners.contract import Layout


def test_names_inside_the_root_are_joined_and_normalized(tmp_path):
    assert safe_join(tmp_path, "a/b.txt") == tmp_path / "a" / "b.txt"
    assert safe_join(tmp_path, "a", "b", "c") == tmp_path / "a" / "b" / "c"
    assert safe_join(tmp_path, "a/./b/../c") == tmp_path / "a" / "c"
    assert safe_join(tmp_path, "..a") == tmp_path / "..a"  # a name that starts with dots is still a name


@pytest.mark.parametrize("name", ["..", "../x", "a/../../x", "a/b/../../../x", "/etc/passwd", "/", ".", "",
                                  "a/..", "x\x00y"])
def test_names_that_leave_the_root_or_are_the_root_are_refused(tmp_path, name):
    with pytest.raises(UnsafePath) as e:
        safe_join(tmp_path / "root", name, what="S3 key")
    assert isinstance(e.value, ValidationError) and e.value.code == "ValidationException"
    assert "S3 key" in e.value.message


def test_a_symlink_inside_the_root_that_points_outside_is_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "escape")
    os.symlink("sub", root / "inner")
    with pytest.raises(UnsafePath, match="symbolic link"):
        safe_join(root, "escape/file")
    assert safe_join(root, "inner/file") == root / "inner" / "file"  # a link that stays inside is fine


def test_a_root_reached_through_a_symlink_still_works(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert safe_join(tmp_path / "alias", "x") == tmp_path / "alias" / "x"


def test_a_channel_named_dotdot_cannot_reach_the_config_folder(tmp_path):
    layout = Layout(tmp_path / "job").make()
    assert layout.channel("train") == layout.data / "train"
    for name in ("..", ".", "../config", "a/../../config"):
        with pytest.raises(UnsafePath, match="channel name"):
            layout.channel(name)


@pytest.mark.parametrize("path,rel", [("/opt/ml/checkpoints", "checkpoints"), ("/opt/ml/a/../b", "b"),
                                      ("/opt/ml//x/", "x")])
def test_paths_under_opt_ml(path, rel):
    assert under_opt_ml(path) == rel


@pytest.mark.parametrize("path", ["/tmp/ckpt", "/opt/ml", "/opt/ml/..", "/opt/ml/../../etc", "opt/ml/x",
                                  "/opt/mlx/y", "checkpoints"])
def test_paths_outside_opt_ml_are_refused(path):
    with pytest.raises(UnsafePath, match="LocalPath"):
        under_opt_ml(path, "CheckpointConfig.LocalPath")
