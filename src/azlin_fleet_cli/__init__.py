"""The azlin-fleet command line: translates flags into runs of the azlin.fleet playbooks and prints the report."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
