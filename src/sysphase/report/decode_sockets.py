"""Decoders of the socket calls with their own rules: socket, socketpair, setsockopt, getsockopt.

socket's protocol is named after its domain (IP protocols, netlink families,
an ``htons()`` ethertype for packet sockets); socket options are named after
their level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sysphase.report import _xlat as X
from sysphase.report.decode_context import Arg, Ctx
from sysphase.report.strace_text import MASK32, flags_text, hex_text, value_text

__all__ = ["CALLS"]


def _socket_args(c: Ctx) -> list[Arg]:
    domain = c.s32(0)
    kind = c.u(1) & MASK32
    text = X.SOCK_TYPES.get(kind & 0xF, f"{kind & 0xF:#x} /* SOCK_??? */")
    if kind & ~0xF:
        text += "|" + flags_text(kind & ~0xF, X.SOCK_FLAGS)
    proto = c.s32(2)
    if domain in (X.AF_INET, X.AF_INET6):
        protocol = c.flag(value_text(proto, X.IP_PROTOCOLS, "IPPROTO_"))
    elif domain == X.AF_NETLINK:
        protocol = c.flag(value_text(proto, X.NETLINK_PROTOCOLS, "NETLINK_"))
    elif domain == X.AF_PACKET:
        host = ((proto & 0xFF) << 8) | ((proto >> 8) & 0xFF)
        protocol = c.flag(f"htons({X.ETHER_PROTOCOLS.get(host, hex_text(host))})")
    else:
        protocol = c.num(proto)
    family = c.flag(value_text(domain & MASK32, X.ADDRESS_FAMILIES, "AF_"))
    return [family, c.flag(text), protocol]


def _socketpair(c: Ctx) -> list[Arg]:
    return [*_socket_args(c), c.ptr(3)]


def _sockopt(c: Ctx) -> list[Arg]:
    level = c.s32(1)
    optname = c.s32(2)
    table = {X.SOL_SOCKET: X.SOCKET_OPTIONS, X.SOL_TCP: X.TCP_OPTIONS}.get(level)
    opt = c.num(optname) if table is None else c.flag(value_text(optname, table, "SO_"))
    last = c.num(c.u(4) & MASK32) if c.name == "setsockopt" else c.ptr(4)
    level_arg = c.flag(value_text(level & MASK32, X.SOCKET_LEVELS, "SOL_"))
    return [c.fd(0), level_arg, opt, c.ptr(3), last]


#: name -> the decoder of all its arguments
CALLS: Final[dict[str, Callable[[Ctx], list[Arg]]]] = {
    "socket": _socket_args,
    "socketpair": _socketpair,
    "setsockopt": _sockopt,
    "getsockopt": _sockopt,
}
