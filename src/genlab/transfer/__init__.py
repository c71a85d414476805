"""Image-to-image transfer: colour, palettes and style."""
