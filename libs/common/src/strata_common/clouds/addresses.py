"""Addresses the drivers share: an address pool as accounts write it ("first-last", 10.0.0.100-10.0.0.120,
or a CIDR), and the subnets Strata cuts from a network."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator


def subnet_cidr(cidr: str, index: int) -> str:
    """The index-th /20 inside a /16 network, e.g. 10.0.0.0/16 -> 10.0.16.0/20 for index 1."""
    base = cidr.split("/")[0].split(".")
    return f"{base[0]}.{base[1]}.{index * 16}.0/20"


def address_pool(pool: str) -> Iterator[str]:
    """The pool's addresses in order; ValueError when it is neither form, mixes IP versions or ends before
    it starts (checked at once, before the first address is asked for)."""
    if "-" not in pool:
        return (str(host) for host in ipaddress.ip_network(pool, strict=False).hosts())
    first, last = (ipaddress.ip_address(part.strip()) for part in pool.split("-", 1))
    if first.version != last.version or int(first) > int(last):
        raise ValueError(f"{pool!r} is not first-last addresses of one IP version")
    return (str(type(first)(number)) for number in range(int(first), int(last) + 1))
