"""Hanlin (翰林): offline-first Chinese enterprise LLM platform."""

__version__ = "0.1.0"
