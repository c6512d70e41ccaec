"""The ls workload's generated scenarios: the real ``ls --help`` parsed, loaded and run natively."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sysphase.workloads import fixtures, runner
from sysphase.workloads.help_options import parse_help


def test_real_help_parses() -> None:
    text = subprocess.run(
        ["ls", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout
    specs = {s.long or s.short: s for s in parse_help(text)}
    assert "--color" in specs and specs["--color"].optional
    assert specs["--context"].short == "-Z"
    assert {"none", "size", "time", "version", "extension"} <= set(specs["--sort"].values)
    assert len(specs) >= 50


def test_load_adds_generated_scenarios_that_run() -> None:
    w = runner.load("ls")
    names = [s.name for s in w.tagged("train")]
    assert names[:11] == [s.name for s in w.scenarios[:11]]  # the hand-written ones first
    assert {"plain", "option--color", "option-Z", "option--sort-size"} <= set(names)
    made = [s for s in w.scenarios if s.name.startswith("option")]
    assert 50 <= len(made) <= 150 and all(s.tag == "train" for s in made)
    picks = {"option-Z", "option--color-always", "option--sort-size", "option--width", "option-R"}
    root = Path(tempfile.mkdtemp(prefix="sysphase-test-"))
    try:
        tree = str(fixtures.build_ls_tree(root))
        for s in made:
            if s.name in picks:
                argv = [a.replace("{tree}", tree) for a in s.argv]
                done = subprocess.run(argv, capture_output=True, timeout=60)
                assert done.returncode == 0, (s.name, done.stderr)
    finally:
        fixtures.unlock(root)
        shutil.rmtree(root, ignore_errors=True)
