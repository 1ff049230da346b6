"""README.md cannot rot: its Python blocks run, in order, in one Python process, from the repository root,
against a real server, with exactly the environment `eval "$(shipyard env)"` gives; then every command of its
command-line block runs too (ending with `shipyard stop`)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(README.read_text()) if kind == lang]


def cli_block() -> list[list[str]]:
    """The commands of the block under '### The command line', one argv per line."""
    text = README.read_text()
    section = text[text.index("### The command line"):]
    body = FENCE.search(section).group(2)
    return [argv for argv in (shlex.split(line, comments=True) for line in body.splitlines()) if argv]


def test_readme_has_the_blocks_this_test_runs():
    python = blocks("python")
    assert len(python) >= 4
    assert any("boto3.client" in b for b in python) and any("from shipyard.sdk" in b for b in python)
    assert all(argv[0] == "shipyard" for argv in cli_block())
    text = README.read_text()
    assert "docs/deploy.md" in text and "docs/scaling.md" in text
    # the compatibility table says what is supported and what is not yet, and links each supported part's doc
    for feature in ("Processing jobs", "Pipelines", "Model registry", "Experiments", "Studio", "Model Monitor",
                    "Neural built-in", "Neo", "SageMaker Spark"):
        row = re.search(rf"^\| {re.escape(feature)}[^\n]*\| supported[^|]*\|$", text, re.M)
        assert row and "(docs/" in row.group(0), feature
    for feature in ("Ground Truth",):
        assert re.search(rf"^\| {re.escape(feature)}[^\n]*\| not yet \|$", text, re.M), feature
    for doc in re.findall(r"\]\((docs/[^)#]+)\)", text):
        assert (ROOT / doc).exists(), doc
    for path in re.findall(r"\"(examples/readme/[^\"]+)\"", "\n".join(python)):
        assert (ROOT / path).exists(), path


def _env_from_shipyard_env(home: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_", "SAGEMAKER_"))}
    base["SHIPYARD_HOME"] = str(home)  # what `shipyard server` and `shipyard env` default to, here
    r = subprocess.run([sys.executable, "-m", "shipyard.cli", "env"], env=base, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        base[name] = shlex.split(value)[0]
    return base


# Prepended to the README's blocks, and nothing else: the SageMaker SDK's fixed sleeps (30 s per `deploy()`,
# a status look every 30 s while `fit()` tails the log) would be most of this test; tests/e2e/sdk_waits.py
# shortens them with every SDK call and its output unchanged.
SDK_WAITS_PRELUDE = f"""\
import runpy as _runpy
_runpy.run_path({str(Path(__file__).with_name("sdk_waits.py"))!r})["shorten_sdk_waits"]()
del _runpy
"""


# Commands that only read (each a CLI process, a second of start-up): consecutive ones run at once. Any other
# command (`endpoints delete`, `stop`, one added later) runs alone, after everything before it and before
# everything after it, so the block's order is kept wherever it can matter.
READ_ONLY = frozenset({"--version", "jobs list", "jobs describe", "logs xgb-1", "models list", "transform list",
                       "tuning list", "endpoints list", "endpoints invoke"})


def _in_order_reads_together(commands: list[list[str]]) -> list[list[list[str]]]:
    batches: list[list[list[str]]] = []
    for argv in commands:
        reads = " ".join(argv[1:3]) in READ_ONLY
        if reads and batches and all(" ".join(a[1:3]) in READ_ONLY for a in batches[-1]):
            batches[-1].append(argv)
        else:
            batches.append([argv])
    return batches


def _shipyard(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shipyard.cli", *argv[1:]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_commands_run_in_order_with_reads_together():
    cmds = [["shipyard", *c.split()] for c in ("--version", "jobs list", "endpoints delete x", "logs xgb-1",
                                               "stop")]
    assert [[" ".join(a[1:]) for a in b] for b in _in_order_reads_together(cmds)] == [
        ["--version", "jobs list"], ["endpoints delete x"], ["logs xgb-1"], ["stop"]]
    assert [len(b) for b in _in_order_reads_together(cli_block())][-2:] == [1, 1]  # delete, then stop, alone


def test_readme_runs_as_written(server_factory, tmp_path):
    server = server_factory()
    env = _env_from_shipyard_env(server.home)
    assert env["AWS_ENDPOINT_URL"] == server.url  # found through the home's server.json

    script = tmp_path / "readme_blocks.py"
    script.write_text("\n\n".join([SDK_WAITS_PRELUDE, *blocks("python")]))
    r = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"README python blocks failed:\n{r.stdout[-4000:]}\n{r.stderr[-6000:]}"
    out = r.stdout
    assert "s3://data/output/xgb-1/output/model.tar.gz" in out
    # the Shipyard SDK's fit() shows tabs (not syslog's #011, which the SageMaker SDK prints as on AWS), and
    # prints the job's outcome after its last log line
    lines = out.splitlines()
    last_round = max(i for i, line in enumerate(lines) if re.match(r"\[algo-1\] \[49\]\ttrain-", line))
    assert re.search(r": Completed$", "\n".join(lines[last_round + 1:]), re.M), lines[last_round:]
    assert not any(re.search(r"\] \[\d+\]#011", line) for line in lines[last_round - 49:last_round + 1])

    results: dict[str, subprocess.CompletedProcess] = {}
    for batch in _in_order_reads_together(cli_block()):
        with ThreadPoolExecutor(max_workers=4) as pool:
            done = list(pool.map(lambda argv: (argv, _shipyard(argv, env)), batch))
        for argv, r in done:
            assert r.returncode == 0, f"{shlex.join(argv)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
            results[" ".join(argv[1:3])] = r
    assert results["jobs describe"].stdout.count("xgb-1") >= 1
    assert "MetricDefinitions" not in results["jobs describe"].stdout
    assert results["logs xgb-1"].stdout.splitlines()[-1] == "==> xgb-1: Completed"
    score = float(results["endpoints invoke"].stdout.strip())
    assert 0.0 <= score <= 1.0
    assert "xgb-1" in results["models list"].stdout
    assert server.proc.wait(20) == 0  # `shipyard stop` stopped it cleanly
    assert not (server.home / "server.json").exists()
