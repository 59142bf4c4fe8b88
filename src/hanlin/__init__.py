"""Hanlin (翰林): offline-first Chinese enterprise LLM platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hanlin")  # one source: pyproject.toml
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
