"""The constants the C core exports are the ones the rest of sysphase uses.

psutil's practice: a constant is written once, in C, and exported by the module
(``_core.MARKER_FD``, ``KIND_*``, ``END_*``, ``ARGK_*``, ``MODE_*``). The pure layers
cannot import ``_core``, so where they keep a copy (node kinds and ends for the eBPF
backend, argument kinds for the decoder) this test proves the copies agree, and that the
public header ``sysphase.h`` defines the marker the core reads.
"""

from __future__ import annotations

import re
from pathlib import Path

from sysphase import _core
from sysphase._host import core_records, tracer
from sysphase.model import events, tree

INCLUDE = Path(tracer.__file__).resolve().parent.parent / "include" / "sysphase.h"


def test_the_public_header_defines_the_marker_the_core_reads() -> None:
    m = re.search(r"#define SYSPHASE_MARKER_FD \((-?\d+)\)", INCLUDE.read_text())
    assert m is not None
    assert int(m.group(1)) == _core.MARKER_FD
    assert _core.MARKER_NAME_MAX == 63  # "Names longer than 63 bytes are cut" (sysphase.h)
    assert "longer than 63 bytes" in INCLUDE.read_text()


def test_node_kinds_and_ends_agree_with_the_model() -> None:
    for code, kind in core_records.KIND_BY_CODE.items():
        assert tree.KIND_BY_CODE[code] is kind  # the eBPF backend uses the model's table
    for code, end in core_records.END_BY_CODE.items():
        assert tree.END_BY_CODE[code] is end
    assert set(core_records.KIND_BY_CODE.values()) == set(tree.NodeKind)
    assert set(core_records.END_BY_CODE.values()) == set(tree.NodeEnd)


def test_argument_kinds_agree_with_the_decoder() -> None:
    assert (events.ARG_PLAIN, events.ARG_CSTRING, events.ARG_BUF_IN) == (
        _core.ARGK_PLAIN,
        _core.ARGK_CSTRING,
        _core.ARGK_BUF_IN,
    )
    assert (events.ARG_BUF_OUT, events.ARG_STRV) == (_core.ARGK_BUF_OUT, _core.ARGK_STRV)


def test_every_mode_is_a_core_mode() -> None:
    codes = {getattr(_core, n) for n in dir(_core) if n.startswith("MODE_")}
    assert {m.value for m in tracer.Mode} == codes
