from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shapes_folder(tmp_path_factory) -> Path:
    """A small real Shapes World export (24 scenes at 16 px), shared read-only."""
    from genlab.world.dataset import export

    return export(tmp_path_factory.mktemp("shapes") / "set", 24, 16)
