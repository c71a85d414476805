"""Core types shared by every layer: plain Python, never imports torch."""
