"""SLURM's compressed host lists (`node[01-03,07],gpu-a[1-2]`), expanded without `scontrol`.

A training launcher on a compute node needs the first host of its step to agree on a rendezvous
address with the other nodes; `scontrol show hostnames` is not always on a node's PATH (and
never in tests), so the expansion is done here, following SLURM's rules: commas split hosts
only outside brackets, a range keeps the zero padding of its lower bound, and several bracket
groups in one name expand as a product in order.
"""

from __future__ import annotations

import itertools
import re

from gpt2zh.errors import UserError


class HostlistError(UserError):
    pass


_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _split_top(text: str) -> list[str]:
    """Splits at commas that are outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
            if depth > 1:
                raise HostlistError(f"nested '[' in host list {text!r}")
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise HostlistError(f"unbalanced ']' in host list {text!r}")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise HostlistError(f"unbalanced '[' in host list {text!r}")
    parts.append(text[start:])
    return parts


def _expand_ranges(body: str, hostlist: str) -> list[str]:
    """`01-03,07` → ['01', '02', '03', '07'] (padding from each range's lower bound)."""
    out: list[str] = []
    for item in body.split(","):
        m = _RANGE.match(item.strip())
        if not m:
            raise HostlistError(f"bad range {item!r} in host list {hostlist!r}")
        lo, hi = m.group(1), m.group(2) or m.group(1)
        if int(hi) < int(lo):
            raise HostlistError(f"descending range {item!r} in host list {hostlist!r}")
        out += [str(n).zfill(len(lo)) for n in range(int(lo), int(hi) + 1)]
    return out


def _expand_name(name: str, hostlist: str) -> list[str]:
    """One host pattern with zero or more bracket groups → its hosts, in order."""
    pieces = re.split(r"\[([^\]]*)\]", name)
    # re.split with one group alternates literal, bracket body, literal, ...
    choices = [
        [piece] if i % 2 == 0 else _expand_ranges(piece, hostlist) for i, piece in enumerate(pieces)
    ]
    return ["".join(combo) for combo in itertools.product(*choices)]


def expand_hostlist(hostlist: str) -> list[str]:
    """Every host of a SLURM host list, in SLURM's order."""
    hosts = [
        host
        for name in _split_top(hostlist.strip())
        if name.strip()
        for host in _expand_name(name.strip(), hostlist)
    ]
    if not hosts:
        raise HostlistError(f"empty host list {hostlist!r}")
    return hosts


def first_host(hostlist: str) -> str:
    return expand_hostlist(hostlist)[0]
