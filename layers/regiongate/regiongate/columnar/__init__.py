"""Columnar decisions: Arrow tables of requests in, Arrow tables of decisions out.

Needs the ``batch`` extra (pyarrow, numpy); the per-request engine does not.
"""

from regiongate.columnar.engine import DECISION_SCHEMA, REQUEST_COLUMNS, ColumnarEngine

__all__ = ["DECISION_SCHEMA", "REQUEST_COLUMNS", "ColumnarEngine"]
