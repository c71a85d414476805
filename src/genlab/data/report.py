"""The audit as one HTML file that stands alone (plots and thumbnails as data URIs,
inline style, no scripts), and as JSON beside it. Every name from the folder is
escaped and made printable: file names and captions are untrusted text."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from genlab.core.files import atomic_file
from genlab.core.text import printable
from genlab.data.audit import AuditResult

REPORT = "audit.html"
DATA = "audit.json"
SHOWN = 12  # duplicate groups and outliers shown with thumbnails; the JSON has all
_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1em; color: #1d1d1f; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f5f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img.thumb { width: 64px; height: 64px; image-rendering: pixelated; border: 1px solid #ddd; }
figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
.problem { color: #a33; }
"""


def write(result: AuditResult, out: Path) -> tuple[Path, Path]:
    """Write audit.html and audit.json into folder `out`; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    data = json.dumps(result.to_dict(), indent=2)  # ensure_ascii: surrogates stay escapes
    with atomic_file(out / DATA, "w", encoding="utf-8") as handle:
        handle.write(data)
    with atomic_file(out / REPORT, "w", encoding="utf-8") as handle:
        handle.write(render(result))
    return out / REPORT, out / DATA


def render(result: AuditResult) -> str:
    target = f"reference {result.reference}" if result.reference else "uniform"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Audit of {_esc(result.folder)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Audit of {_esc(result.folder)}</h1>",
        f"<p>{result.images} images audited; attributes from "
        + ", ".join(f"{_esc(k)}: {v}" for k, v in sorted(result.sources.items()))
        + f". Imbalance is measured against {_esc(target)}.</p>",
        *_imbalance_table(result),
        *_plots(result),
        *_duplicates(result),
        *_outliers(result),
        *_projection(result),
        *_problems(result),
        "</body></html>",
    ]
    return "\n".join(parts)


def _imbalance_table(result: AuditResult) -> list[str]:
    rows = [
        "<h2>Imbalance</h2><table><tr><th>attribute</th><th>n</th><th>values</th>"
        "<th>entropy (share of max)</th><th>KL (bits)</th><th>total variation</th>"
        "<th>smallest group</th><th>missing</th></tr>"
    ]
    for name, entry in result.attributes.items():
        f = entry["imbalance"]
        rows.append(
            f"<tr><td>{_esc(name)}</td><td class=num>{f['n']}</td><td class=num>{f['k']}</td>"
            f"<td class=num>{f['normalised_entropy']:.3f}</td><td class=num>{f['kl_bits']:.3f}</td>"
            f"<td class=num>{f['total_variation']:.3f}</td>"
            f"<td>{_esc(f['smallest'])} ({f['smallest_share']:.1%})</td>"
            f"<td>{len(f['missing'])}</td></tr>"
        )
    rows.append("</table>")
    return rows


def _plots(result: AuditResult) -> list[str]:
    out = ["<h2>Distributions</h2>"]
    for name, entry in result.attributes.items():
        png = _bar_png(name, entry["counts"], entry["target"])
        out.append(
            f"<figure><img src='{_uri(png)}' alt='{_esc(name)}'>"
            f"<figcaption>{_esc(name)}: share of each value (bars) and target (line)"
            "</figcaption></figure>"
        )
    return out


def _bar_png(name: str, counts: dict[str, int], target: dict[str, float]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    labels = list(counts)
    total = sum(counts.values()) or 1
    width = min(14.0, max(4.0, 0.22 * len(labels) + 1.5))
    fig, ax = plt.subplots(figsize=(width, 3.0), dpi=90)
    try:
        ax.bar(range(len(labels)), [counts[v] / total for v in labels], color="#4a7bd0")
        ax.step(range(len(labels)), [target[v] for v in labels], where="mid", color="#d04a4a", lw=1)
        ax.set_xticks(range(len(labels)), [printable(v, max_chars=24) for v in labels])
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
        ax.set_ylabel("share")
        ax.set_title(printable(name, max_chars=60))
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _duplicates(result: AuditResult) -> list[str]:
    out = [f"<h2>Near-duplicates</h2><p>{len(result.duplicates)} groups (perceptual hash).</p>"]
    for group in result.duplicates[:SHOWN]:
        out.append("<div>" + "".join(_thumb(result.folder, n, n) for n in group[:8]) + "</div>")
    return out


def _outliers(result: AuditResult) -> list[str]:
    out = [
        f"<h2>Outliers</h2><p>{len(result.outliers)} images whose mean distance to their 5 "
        "nearest neighbours in <code>shapes</code> feature space has a robust z above 3.5.</p>"
    ]
    out += [_thumb(result.folder, o["file_name"], f"z = {o['z']}") for o in result.outliers[:SHOWN]]
    return out


def _projection(result: AuditResult) -> list[str]:
    if not result.projection or not result.projection["points"]:
        return []
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    points = result.projection["points"]
    groups = sorted({str(p["group"]) for p in points})
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=90)
    try:
        for group in groups:
            mine = [p for p in points if str(p["group"]) == group]
            ax.scatter([p["x"] for p in mine], [p["y"] for p in mine], s=8, label=group)
        ax.legend(fontsize=7, markerscale=1.5)
        first, second = result.projection["explained_variance"]
        ax.set_xlabel(f"PC 1 ({first:.0%} of variance)")
        ax.set_ylabel(f"PC 2 ({second:.0%} of variance)")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return [
        "<h2>Feature space</h2>",
        f"<figure><img src='{_uri(buffer.getvalue())}' alt='PCA of shapes features'>"
        "<figcaption>PCA of the <code>shapes</code> encoder's embeddings, coloured by each "
        "image's first object's shape; coordinates per image are in audit.json."
        "</figcaption></figure>",
    ]


def _problems(result: AuditResult) -> list[str]:
    out = [f"<h2>Problems</h2><p>{len(result.problems)} rows or images not audited.</p><ul>"]
    out += [f"<li class=problem>{_esc(p)}</li>" for p in result.problems]
    return [*out, "</ul>"]


def _thumb(root: Path, name: str, caption: str) -> str:
    from genlab.core.errors import UnsupportedImage
    from genlab.core.images import open_image

    try:
        image = open_image(root / name, keep_alpha=False)
    except UnsupportedImage:
        return f"<figure>{_esc(name)} (unreadable)</figure>"
    image.thumbnail((128, 128))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return (
        f"<figure><img class=thumb src='{_uri(buffer.getvalue())}' alt=''>"
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _esc(text: object) -> str:
    return html.escape(printable(str(text), max_chars=300), quote=True)


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
