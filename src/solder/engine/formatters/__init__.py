"""The formatter block: pure transformations of text, numbers, dates and JSON.

A workflow names one operation and gives it inputs::

    - key: price_text
      type: formatter
      operation: number.format
      inputs: {value: "{{ trigger.total }}", decimals: 2, thousandsSeparator: ","}

Each operation is an :class:`Operation` value in :data:`OPERATIONS`. Its input schema draws
the builder's form and is what :func:`run` checks; its output schema tells the builder what
later blocks can map. Operations do no I/O and never read the clock (there is no
``date.now``: a run's time comes from its trigger), so a resumed or replayed run computes the
same values. ``registry`` holds the table, :func:`run`, :func:`check_operation` and the
conventions the operations share; ``text``, ``numbers``, ``dates`` and ``data`` (JSON)
declare the operations.
"""

from __future__ import annotations

from solder.engine.formatters.registry import OPERATIONS, Operation, check_operation, run

# Importing the operation modules declares their operations into OPERATIONS. Keep this order:
# the table keeps it, and the builder lists the operations in it (GET /manage/blocks).
from solder.engine.formatters import text, numbers, dates, data  # isort: skip  # noqa: F401

__all__ = ["OPERATIONS", "Operation", "check_operation", "run"]
