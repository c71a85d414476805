"""Measurement: feature-free metrics now (prompt adherence); FD/KID/CLIP score next."""
