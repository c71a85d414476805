"""How far a distribution is from balanced: the figures an audit reports per attribute.

All take counts over a fixed support (every value the attribute can take, so a value
the folder never shows counts as 0, which is the worst imbalance of all):
- entropy in bits, and as a share of the most a distribution over k values can have
  (log2 k, 1.0 = uniform);
- total variation to the target, 0.5 * sum |p - q|: the share of images that would
  have to change group to match it;
- KL(p || q) in bits to the target. A reference folder may miss a value the audited
  folder has, which makes KL infinite; so a reference is smoothed with half a count per
  value (Jeffreys' prior), and the report says so;
- the smallest group's share and the largest/smallest ratio (inf when a value is 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from genlab.core.errors import InvalidRequest

JEFFREYS = 0.5


@dataclass(frozen=True)
class Imbalance:
    n: int
    k: int
    entropy_bits: float
    normalised_entropy: float
    kl_bits: float
    total_variation: float
    smallest_share: float
    smallest: str
    ratio: float  # largest count / smallest count; inf when a value is missing
    missing: tuple[str, ...]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["missing"] = list(self.missing)
        out["ratio"] = None if math.isinf(self.ratio) else self.ratio  # JSON has no inf
        return out


def shares(counts: Mapping[str, float], support: Sequence[str], prior: float = 0.0) -> list[float]:
    values = [counts.get(v, 0) + prior for v in support]
    total = sum(values)
    if total <= 0:
        raise InvalidRequest("counts", dict(counts), "hold no observation over the support")
    return [v / total for v in values]


def imbalance(
    counts: Mapping[str, int],
    support: Sequence[str],
    reference: Mapping[str, int] | None = None,
) -> Imbalance:
    """The figures for `counts` against uniform over `support`, or against `reference`."""
    if not support:
        raise InvalidRequest("support", list(support), "must name at least one value")
    p = shares(counts, support)
    if reference is None:
        q = [1 / len(support)] * len(support)
    else:
        q = shares(reference, support, prior=JEFFREYS)
    entropy = -sum(x * math.log2(x) for x in p if x > 0)
    kl = sum(x * math.log2(x / y) for x, y in zip(p, q) if x > 0)
    tv = 0.5 * sum(abs(x - y) for x, y in zip(p, q))
    low = min(range(len(support)), key=lambda i: p[i])
    top = max(counts.get(v, 0) for v in support)
    bottom = counts.get(support[low], 0)
    return Imbalance(
        n=int(sum(counts.get(v, 0) for v in support)),
        k=len(support),
        entropy_bits=entropy,
        normalised_entropy=entropy / math.log2(len(support)) if len(support) > 1 else 1.0,
        kl_bits=kl,
        total_variation=tv,
        smallest_share=p[low],
        smallest=support[low],
        ratio=top / bottom if bottom else math.inf,
        missing=tuple(v for v in support if not counts.get(v, 0)),
    )
