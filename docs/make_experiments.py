"""Run the three experiments of docs/experiments.md and export their pictures and numbers.

    python docs/make_experiments.py [--out outputs/experiments]

For each sweep file in docs/experiments/: `genlab sweep --file …` (resumes if run
before), `genlab eval --run last` (shapes extractor, procedural reference), `genlab
report last`; then the contact sheet and a plot of each metric along the sweep's Y
axis are copied to docs/images/experiments/, and every number to
docs/experiments/results.json, which docs/experiments.md quotes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from genlab.lab.measure import load_run_metrics
from genlab.lab.plots import plot_png, series_of
from genlab.lab.records import DB_NAME, open_store
from genlab.lab.report import numeric_axes

DOCS = Path(__file__).resolve().parent
EXPERIMENTS = ("descriptors", "guidance", "order")


def genlab(*args: str) -> None:
    command = [str(Path(sys.executable).parent / "genlab"), *args]
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/experiments"))
    args = parser.parse_args()
    images = DOCS / "images" / "experiments"
    images.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in EXPERIMENTS:
        out = args.out / name
        genlab("sweep", "--file", str(DOCS / "experiments" / f"{name}.toml"), "--out", str(out))
        genlab("eval", "--run", "last", "--out", str(out))
        genlab("report", "last", "--out", str(out))
        with open_store(out / DB_NAME, create=False) as store:
            run = store.latest_run()
        metrics = load_run_metrics(out / DB_NAME, run.id, "shapes")
        shutil.copyfile(run.folder / "sheet.png", images / f"{name}-sheet.png")
        for series in series_of(metrics, numeric_axes(run.definition)):
            if series.axis == "y":
                (images / f"{name}-{series.metric}.png").write_bytes(plot_png(series))
        results[name] = metrics.to_dict()
    (DOCS / "experiments" / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
