"""Measurement. Metric math on feature tensors (frechet, kid, inception_score,
precision_recall, diversity, bootstrap intervals) is kept apart from the feature
extractors that make those tensors (features: Inception, CLIP, the `shapes` encoder
network in shapes_encoder_net); adherence and clip_score judge images against prompts.
"""
