"""gpt2zh.arrowfn runs Arrow kernels without importing pyarrow.compute: same results as it."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc

from gpt2zh import arrowfn
from helpers import REPO

TEXTS = pa.array(["床前明月光", "", None, "abc", "𠀋𠀋"], pa.string())
CHUNKED = pa.chunked_array([TEXTS.slice(1), pa.array(["頭", None], pa.string())])


def test_kernels_give_what_pyarrow_compute_gives() -> None:
    for values in (TEXTS, TEXTS.slice(1, 3), CHUNKED, pa.array([], pa.string())):
        for name in ("utf8_length", "binary_length"):
            assert getattr(arrowfn, name)(values).equals(getattr(pc, name)(values))
        lengths = pc.binary_length(values)
        assert arrowfn.sum(lengths).equals(pc.sum(lengths))
    nums = pa.array([7, None, 12], pa.int64())
    assert arrowfn.cast(nums, pa.string()).equals(nums.cast(pa.string()))
    assert arrowfn.binary_join_element_wise(TEXTS, TEXTS, "-").equals(
        pc.binary_join_element_wise(TEXTS, TEXTS, "-")
    )
    table = pa.table({"dataset": ["a", "b", "a", None], "shard": [0, 0, 1, 0]})
    mask = arrowfn.and_(arrowfn.equal(table["dataset"], "a"), arrowfn.equal(table["shard"], 0))
    assert mask.equals(pc.and_(pc.equal(table["dataset"], "a"), pc.equal(table["shard"], 0)))
    assert arrowfn.filter(table, mask).equals(table.filter(mask))
    keep = pa.array([True, False, None, True])
    assert arrowfn.filter(table, keep).equals(table.filter(keep))


def test_importing_it_does_not_import_pyarrow_compute() -> None:
    code = "import sys, gpt2zh.arrowfn; print('pyarrow.compute' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO / "src")},
    )
    assert out.stdout.strip() == "False"
