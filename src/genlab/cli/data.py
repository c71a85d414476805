"""`genlab data …` — audit an image folder and fill its gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genlab.cli.errors import user_errors
from genlab.cli.progress import progress_bar
from genlab.cli.terminal import shown

app = typer.Typer(
    help="Audit datasets and balance them with synthetic images.", no_args_is_help=True
)
console = Console(highlight=False)


@app.command("audit")
@user_errors
def audit(
    folder: Annotated[Path, typer.Argument(help="Image folder (metadata.jsonl or bare images).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for audit.html and audit.json.")
    ] = Path("audit"),
    reference: Annotated[
        Path | None, typer.Option(help="Measure imbalance against this folder, not uniform.")
    ] = None,
    features: Annotated[
        bool, typer.Option(help="Embed images with the shapes encoder to find outliers.")
    ] = True,
    distance: Annotated[
        int, typer.Option(help="Near-duplicate distance in hash bits (of 64).")
    ] = 4,
) -> None:
    """Attribute distributions, imbalance, near-duplicates and outliers of a folder, as
    one self-contained HTML report plus JSON."""
    from genlab.services.data import audit_folder

    with progress_bar(console) as progress:
        task = progress.add_task("auditing", total=None)
        result, html, data = audit_folder(
            folder,
            out,
            reference=reference,
            features=features,
            distance=distance,
            on_image=lambda i, n: progress.update(task, completed=i + 1, total=n),
        )
    console.print(f"{result.images} images audited from {shown(folder)}")
    for name, entry in result.attributes.items():
        f = entry["imbalance"]
        console.print(
            f"  {shown(name)}: entropy {f['normalised_entropy']:.3f} of max, "
            f"TV {f['total_variation']:.3f}, smallest {shown(f['smallest'])} "
            f"{f['smallest_share']:.1%}, {len(f['missing'])} missing"
        )
    console.print(
        f"{len(result.duplicates)} near-duplicate groups, {len(result.outliers)} outliers, "
        f"{len(result.problems)} problems"
    )
    for problem in result.problems[:10]:
        console.print(f"  problem: {shown(problem)}")
    console.print(f"report: {shown(html)}  data: {shown(data)}")


@app.command("augment")
@user_errors
def augment(
    folder: Annotated[Path, typer.Argument(help="Image folder to balance.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the added images.")] = Path(
        "augmented"
    ),
    to: Annotated[str, typer.Option("--to", help="'uniform' or a reference folder.")] = "uniform",
    by: Annotated[
        str, typer.Option(help="Attributes to balance, comma-separated.")
    ] = "colour,shape",
    engine: Annotated[
        str, typer.Option(help="Model that draws the images, or 'classic' for transforms.")
    ] = "procedural",
    all_values: Annotated[
        bool, typer.Option(help="Balance over every combination, not only those present.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Makes the added images reproducible.")] = 0,
    dry_run: Annotated[bool, typer.Option(help="Print the plan; write nothing.")] = False,
) -> None:
    """Add exactly the images that move the folder's distribution over `--by` to the
    target; re-running finishes an interrupted run."""
    from genlab.services.data import augment as run
    from genlab.services.data import augment_plan

    job = augment_plan(folder, to=to, by=by, all_values=all_values)
    plan = job.plan
    for warning in [*plan.warnings, *job.problems[:10]]:
        console.print(f"warning: {shown(warning)}")
    console.print(f"plan over {', '.join(plan.by)}: {plan.total} images to add")
    for combination, n in plan.add.items():
        if n:
            console.print(f"  {shown(combination)}: {plan.counts[combination]} + {n}")
    if dry_run:
        return
    with progress_bar(console) as progress:
        task = progress.add_task("drawing", total=plan.total)
        written = run(
            job,
            out,
            engine=engine,
            seed=seed,
            on_image=lambda i, n: progress.update(task, completed=i),
        )
    console.print(f"{written} images written to {shown(out)} ({plan.total} in the plan)")


@app.command("experiment")
@user_errors
def experiment(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for sets and results.")] = Path(
        "experiment"
    ),
    engine: Annotated[
        list[str] | None, typer.Option(help="Engine to fill with (repeatable).")
    ] = None,
    majority: Annotated[int, typer.Option(help="Images of each majority group.")] = 80,
    rare: Annotated[
        float, typer.Option(help="Minority group size, as a share of a majority one.")
    ] = 0.03,
    test_per_group: Annotated[int, typer.Option(help="Test images per colour-shape group.")] = 25,
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 32,
    seeds: Annotated[int, typer.Option(help="Repeats, each with new data and weights.")] = 5,
    epochs: Annotated[int, typer.Option(help="Training epochs per classifier.")] = 15,
) -> None:
    """Train a shape classifier on a skewed Shapes World set, with classic augmentation,
    and with each engine's synthetic fill; accuracy per group with 95% CIs over seeds."""
    from genlab.services.data_experiment import TABLE, experiment_config, run_experiment

    config = experiment_config(
        majority=majority,
        rare=rare,
        test_per_group=test_per_group,
        size=size,
        seeds=seeds,
        epochs=epochs,
    )
    with progress_bar(console) as progress:
        task = progress.add_task("experiment", total=None)
        summary = run_experiment(
            out,
            config,
            engines=tuple(engine or ("procedural",)),
            on_step=lambda text: progress.update(task, description=text),
        )
    console.print((out / TABLE).read_text(), markup=False)
    console.print(f"{summary['seconds']} s; results in {shown(out)}")
