"""script.command: the entry point becomes an argv, never shell text, and must name a file in the code folder."""

from __future__ import annotations

import subprocess

import pytest

from shipyard.training.script import ScriptError, command


@pytest.fixture
def code(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "run.sh").write_text('#!/bin/sh\nprintf "%s|" "$@"\n')
    return tmp_path


def test_a_python_entry_point_is_an_argv(code):
    assert command("train.py", code, ["--a", "1"], python="py") == ["py", "train.py", "--a", "1"]


def test_a_shell_entry_point_gets_its_name_and_arguments_as_values(code):
    argv = command("run.sh", code, ["--note", "a b; touch x", "$(id)"])
    assert argv[:2] == ["/bin/sh", "-c"] and "run.sh" not in argv[2]
    out = subprocess.run(argv, cwd=code, capture_output=True, text=True, check=True).stdout
    assert out == "--note|a b; touch x|$(id)|"
    assert not (code / "x").exists()


@pytest.mark.parametrize("entry", ["run.sh; touch pwned; echo .sh", "../train.py", "/etc/passwd", "-c.py",
                                   "$(touch pwned).sh", "missing.py"])
def test_entry_points_that_are_not_files_in_the_code_folder_are_refused(code, entry):
    with pytest.raises(ScriptError, match="entry point"):
        command(entry, code, [])


def test_with_setup_py_a_module_name_must_be_a_module_name(code):
    (code / "setup.py").write_text("")
    assert command("pkg.train", code, [], python="py") == ["py", "-m", "pkg.train"]
    with pytest.raises(ScriptError, match="not a module name"):
        command("pkg; rm -rf x", code, [])
