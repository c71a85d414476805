"""The package's version, kept in core so that core's metadata writer can name it
without importing the package face (`genlab/__init__`) that re-exports core."""

__version__ = "0.1.0"
