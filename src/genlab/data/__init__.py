"""Datasets as things to measure and repair: audit an image folder's attribute
distribution, plan and write the images that balance it, and test whether that helped.

- `folder`: read an imagefolder (metadata.jsonl or bare images) into records, listing
  every row it cannot use instead of dropping it;
- `attributes`: each image's Shapes World attributes, from labels, scene graphs,
  parsed captions or the `shapes` encoder's prediction;
- `imbalance`: entropy, KL, total variation and smallest share of a distribution;
- `duplicates` / `outliers`: perceptual-hash near-duplicates, feature-space outliers;
- `audit` / `report`: the audit as JSON and as one self-contained HTML page;
- `augment`: the exact images to add per attribute combination, and writing them.

Importing this package loads nothing heavy.
"""
