"""Shapes World: procedural scenes of coloured shapes, exact enough to train and test on.

- `vocab`: every word captions use and prompts may use;
- `scene`: the scene graph (`Scene`, `ShapeObject`, `Relation`), `random_scene`, `layout`;
- `render`: `render(scene, width, height)` draws it with numpy and Pillow;
- `caption` / `parse`: scene to words and back.

Importing this package loads nothing heavy; import the submodules you need.
"""

from __future__ import annotations

# Bump whenever the same seed and prompt would give different pixels (renderer,
# layout, vocabulary or sampling order changed): it feeds the engine's model hash, so
# images made before and after never claim to come from the same model.
WORLD_VERSION = "shapes-world-v2"
