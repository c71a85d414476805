"""Trainers: the built-in text-to-image model (text2image, with its components,
objective, data and sampling), its decoder refinement, and the `shapes` encoder
(its network lives in genlab.metrics.shapes_encoder_net). The super-resolution
trainer is still in genlab.train.sr. Devices come from genlab.devices.
"""
