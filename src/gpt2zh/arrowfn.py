"""The few Arrow compute kernels the per-shard stages call, without `import pyarrow.compute`.

`pyarrow.compute` builds a Python wrapper with a generated docstring for each of its ~300 kernels
on import: 0.03-0.04 CPU-s, paid by every per-shard job (a sixth of its start-up) for a handful
of calls. `pyarrow._compute.call_function` runs the same kernels (it is what those wrappers call)
with their default options, so the results are the ones `pyarrow.compute` gives (tested).
"""

from __future__ import annotations

from typing import Any

from pyarrow._compute import CastOptions, call_function


def utf8_length(values: Any) -> Any:
    return call_function("utf8_length", [values])


def binary_length(values: Any) -> Any:
    return call_function("binary_length", [values])


def sum(values: Any) -> Any:
    return call_function("sum", [values])


def binary_join_element_wise(*strings: Any) -> Any:
    """Joins the arrays (or scalars) element-wise with the last argument as separator; a null
    anywhere gives null (the kernel's default `null_handling="emit_null"`)."""
    return call_function("binary_join_element_wise", list(strings))


def cast(values: Any, target: Any) -> Any:
    """`values.cast(target)` (safe), which would import pyarrow.compute."""
    return call_function("cast", [values], CastOptions.safe(target))


def filter(data: Any, mask: Any) -> Any:
    """`data.filter(mask)` for a table, batch or array (null mask entries drop the row)."""
    return call_function("filter", [data, mask])


def equal(left: Any, right: Any) -> Any:
    return call_function("equal", [left, right])


def and_(left: Any, right: Any) -> Any:
    return call_function("and", [left, right])
