"""The seeded market simulator, mdx's embedded default source: price model, book model, symbol specs."""

from .simulator import SimFaults, Simulator

__all__ = ["SimFaults", "Simulator"]
