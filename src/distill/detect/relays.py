"""Known privacy-relay / VPN exit ranges: rotation across them is ordinary, not evidence.

The list is the operator's own input (``--relays FILE``: one CIDR per line, ``#`` comments), e.g.
the published egress ranges of the privacy relays and VPN providers its users use. A log's IP
blocks (IPv4 /24, IPv6 /48, as ``events.sql`` cuts them) that overlap a listed range are relay
blocks.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path


def read_ranges(path: str | Path) -> list:
    """The networks listed in ``path``; a line that is not a CIDR is refused naming file and line.

    Args:
        path: a text file, one CIDR per line; ``#`` starts a comment, blank lines are skipped.

    Returns:
        The ``ipaddress`` networks, in file order.

    Raises:
        ValueError: a line that is not a CIDR.
    """
    nets = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            nets.append(ipaddress.ip_network(line, strict=False))
        except ValueError:
            raise ValueError(f"{path}:{n}: {line!r} is not an IP range (CIDR such as 172.224.0.0/12)") from None
    return nets


def block_network(block: str):
    """The network of an IP block as events.sql writes it ('10.1.2' → 10.1.2.0/24, '2001:db8:1' → /48).

    Args:
        block: an IPv4 /24 block (three octets) or an IPv6 /48 block (three groups).

    Returns:
        The ``ipaddress`` network, or None if ``block`` is not one.
    """
    try:
        if ":" in block:
            return ipaddress.ip_network(block + "::/48", strict=False)
        return ipaddress.ip_network(block + ".0/24", strict=False)
    except ValueError:
        return None


def relay_blocks(blocks, ranges) -> list[str]:
    """The blocks (sorted) that overlap any of the relay ``ranges``.

    Args:
        blocks: IP blocks as :func:`block_network` reads them (duplicates ignored).
        ranges: relay networks, as :func:`read_ranges` returns.

    Returns:
        The matching blocks, sorted; unparseable blocks never match.
    """
    if not ranges:
        return []
    v4 = [r for r in ranges if r.version == 4]
    v6 = [r for r in ranges if r.version == 6]
    out = []
    for b in sorted(set(blocks)):
        net = block_network(b)
        if net is not None and any(net.overlaps(r) for r in (v4 if net.version == 4 else v6)):
            out.append(b)
    return out
