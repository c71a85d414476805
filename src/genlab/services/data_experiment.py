"""The downstream experiment a user can run (`genlab data experiment`): does filling a
skewed training set help the rare groups, and from which source?

Per seed: write the skewed set and a balanced test set, plan the fill with `genlab
data augment`'s own planner (uniform over colour x shape), fill it (a) not at all,
(b) by classic transforms of the set's own images, (c) by each named engine, train the
same classifier on each and measure accuracy per group with fairlearn. The fill goes
through the same services as the CLI's `data augment`, so the experiment measures
what users run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genlab.core.files import atomic_file
from genlab.services.data import augment, augment_plan
from genlab.services.outputs import check_output_folder

Step = Callable[[str], None]
RESULTS = "experiment.json"
TABLE = "experiment.md"
PLOT = "experiment.png"


def experiment_config(**fields: Any):
    """An ExperimentConfig from the CLI's fields (validated there)."""
    from genlab.data.experiment import ExperimentConfig

    return ExperimentConfig(**fields)


def run_experiment(
    out: Path,
    config: Any = None,  # genlab.data.experiment.ExperimentConfig
    *,
    engines: Sequence[str] = ("procedural",),
    on_step: Step | None = None,
) -> dict[str, Any]:
    """Run every condition for every seed; write experiment.json/.md/.png into `out`."""
    from genlab.data.experiment import ExperimentConfig

    config = config or ExperimentConfig()
    check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runs: dict[str, list[dict]] = {}
    for seed in range(config.seeds):
        for condition, result in _one_seed(out / f"seed-{seed}", config, engines, seed, on_step):
            runs.setdefault(condition, []).append(result)
    summary = _summary(runs, config, time.perf_counter() - started)
    with atomic_file(out / RESULTS, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    _write_table(summary, out / TABLE)
    _write_plot(summary, out / PLOT)
    return summary


def _one_seed(folder: Path, config, engines, seed: int, on_step: Step | None):
    import torch

    from genlab.data import classifier as clf
    from genlab.data.experiment import balanced_sizes, skewed_sizes, write_set

    say = on_step or (lambda _: None)
    say(f"seed {seed}: writing the skewed and test sets")
    skewed = write_set(folder / "skewed", skewed_sizes(config), config.size, seed)
    test = write_set(
        folder / "test", balanced_sizes(config.test_per_group), config.size, 10_000 + seed
    )
    job = augment_plan(skewed, by="colour,shape")
    sources = {"skewed": [skewed], "classic": [skewed, folder / "classic"]}
    say(f"seed {seed}: classic fill of {job.plan.total} images")
    augment(job, folder / "classic", engine="classic", seed=seed)
    for engine in engines:
        say(f"seed {seed}: {engine} fill of {job.plan.total} images")
        augment(job, folder / f"fill-{engine}", engine=engine, seed=seed)
        sources[engine] = [skewed, folder / f"fill-{engine}"]
    x_test, y_test, g_test = _load([test], config.size)
    cfg = clf.ClassifierConfig(epochs=config.epochs)
    for condition, folders in sources.items():
        say(f"seed {seed}: training on {condition}")
        x, y, _ = _load(folders, config.size)
        model = clf.train(x, torch.tensor(y), cfg, seed)
        overall, by_group = clf.group_accuracy(y_test, clf.predict(model, x_test), g_test)
        yield (
            condition,
            {"seed": seed, "train_images": len(y), "overall": overall, "by_group": by_group},
        )


def _load(folders: Sequence[Path], side: int):
    """Images, shape labels and colour-shape groups of single-object folders."""
    import numpy as np
    from PIL import Image

    from genlab.data import classifier as clf
    from genlab.data.audit import folder_items
    from genlab.data.experiment import SHAPES

    images, labels, groups = [], [], []
    for folder in folders:
        records, items, _ = folder_items(folder)
        for record, item in zip(records, items):
            obj = item.objects[0]
            with Image.open(record.path) as image:
                images.append(np.asarray(image.convert("RGB").resize((side, side))))
            labels.append(SHAPES.index(obj["shape"]))
            groups.append(f"{obj['colour']} {obj['shape']}")
    return clf.to_tensor(images), np.array(labels), groups


def _summary(runs: dict[str, list[dict]], config, seconds: float) -> dict[str, Any]:
    from genlab.data.experiment import MAJORITY, minimum_detectable, t_interval

    majority = {f"{c} {s}" for s, c in MAJORITY.items()}

    def figures(run: dict) -> dict[str, float]:
        accs = run["by_group"]
        rare = [a for g, a in accs.items() if g not in majority]
        common = [a for g, a in accs.items() if g in majority]
        return {
            "overall": run["overall"],
            "worst_group": min(accs.values()),
            "gap": max(accs.values()) - min(accs.values()),
            "rare_groups": sum(rare) / len(rare),
            "majority_groups": sum(common) / len(common),
        }

    table = {cond: [figures(r) for r in rs] for cond, rs in runs.items()}
    conditions = {}
    for cond, rows in table.items():
        entry = {k: t_interval([r[k] for r in rows]) for k in rows[0]}
        groups = runs[cond][0]["by_group"]
        entry["by_group"] = {g: t_interval([r["by_group"][g] for r in runs[cond]]) for g in groups}
        entry["train_images"] = runs[cond][0]["train_images"]
        if cond != "skewed":
            for key in ("worst_group", "rare_groups", "majority_groups", "overall"):
                diffs = [r[key] - b[key] for r, b in zip(rows, table["skewed"])]
                entry[f"gain_{key}"] = t_interval(diffs)
                entry[f"mdd_{key}"] = minimum_detectable(diffs)
        conditions[cond] = entry
    return {"config": config.to_dict(), "seconds": round(seconds, 1), "conditions": conditions}


def _write_table(summary: dict, path: Path) -> None:
    rows = [
        "| condition | train images | overall | rare groups | majority groups | worst group "
        "| gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for cond, e in summary["conditions"].items():
        cells = [
            _ci(e[k]) for k in ("overall", "rare_groups", "majority_groups", "worst_group", "gap")
        ]
        rows.append(f"| {cond} | {e['train_images']} | " + " | ".join(cells) + " |")
    rows += [
        "",
        "| condition | gain in rare groups | gain in worst group | change in majority groups "
        "| MDD (rare) |",
        "|---|---|---|---|---|",
    ]
    for cond, e in summary["conditions"].items():
        if cond != "skewed":
            rows.append(
                f"| {cond} | {_ci(e['gain_rare_groups'])} | {_ci(e['gain_worst_group'])} | "
                f"{_ci(e['gain_majority_groups'])} | {e['mdd_rare_groups']:.3f} |"
            )
    path.write_text("\n".join(rows) + "\n")


def _ci(value: Sequence[float]) -> str:
    mean, low, high = value
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def _write_plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    conditions = summary["conditions"]
    groups = list(next(iter(conditions.values()))["by_group"])
    fig, ax = plt.subplots(figsize=(11, 3.6), dpi=100)
    try:
        width = 0.8 / len(conditions)
        for i, (cond, e) in enumerate(conditions.items()):
            means = [e["by_group"][g][0] for g in groups]
            errors = [[m - e["by_group"][g][1] for g, m in zip(groups, means)],
                      [e["by_group"][g][2] - m for g, m in zip(groups, means)]]  # fmt: skip
            xs = [j + i * width for j in range(len(groups))]
            ax.bar(xs, means, width, yerr=errors, label=cond, capsize=1.5)
        ax.set_xticks(
            [j + 0.4 - width / 2 for j in range(len(groups))], groups, rotation=60, fontsize=7
        )
        ax.set_ylabel("test accuracy (95% CI over seeds)")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8, ncols=len(conditions))
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
