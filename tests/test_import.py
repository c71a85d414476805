"""`import genlab` stays cheap: no torch, diffusers or transformers at import time."""

from __future__ import annotations

import subprocess
import sys


def test_import_genlab_and_cli_load_no_heavy_library() -> None:
    code = (
        "import sys, genlab, genlab.cli.main, genlab.core.metadata, genlab.prompts;"
        "print(','.join(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
