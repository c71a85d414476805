"""Trainers: the text-to-image model genlab ships (and, later, GAN and SR trainers)."""
