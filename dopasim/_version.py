"""The version of dopasim (one place; pyproject.toml reads the same number)."""

__version__ = "0.6.0"
