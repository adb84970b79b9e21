"""Uncompiled functional model builders, grouped in one registry per task.

Each task module (e.g. `tfdl.models.digits`) creates a `Registry` and
decorates its builders; apps take flag choices from `registry.names()` so the
list cannot drift from the code.
"""

from tfdl.models.registry import Registry

__all__ = ["Registry"]
