"""`python -m genlab.cli.main` is the CLI too, for environments without the script."""

from __future__ import annotations

import subprocess
import sys


def test_running_the_module_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "genlab.cli.main", "samplers"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Euler a" in done.stdout


def test_the_module_reports_usage_errors_as_the_script_does():
    done = subprocess.run(
        [sys.executable, "-m", "genlab.cli.main", "generate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
