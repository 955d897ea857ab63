"""Address space: home broadband, datacenters, mobile carriers behind CGNAT, privacy-relay exits.

Addresses are int64: IPv4 as the 32-bit value; IPv6 as ``V6 | prefix48 << 16 | host`` (formatted
as ``2a0f:XXXX:XXXX:HHHH::1``). Blocks are /24 (IPv4) or /48 (IPv6) and stored as the address of
host 0, so ``block | host`` is an address.
"""

from __future__ import annotations

import numpy as np

V6 = np.int64(1) << 50
RESIDENTIAL_FIRST = (24, 31, 37, 46, 50, 62, 66, 67, 68, 69, 71, 73, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86,
                     87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 108, 109, 151, 174, 176, 178, 188, 201, 212)
DATACENTER_FIRST = (5, 23, 34, 35, 45, 52, 64, 104, 138, 139, 143, 144, 146, 149, 152, 154, 157, 159, 162, 165, 167,
                    185, 192, 193, 194, 195, 198, 199, 205, 209)
MOBILE_FIRST = (39, 42, 49, 101, 106, 110, 111, 112, 114, 117, 119, 120, 172, 208)
RELAY_FIRST = (104, 146, 172)


def v4_blocks(rng: np.random.Generator, n: int, firsts: tuple[int, ...]) -> np.ndarray:
    """``n`` random /24 blocks whose first octet is one of ``firsts``.

    Args:
        rng: the scenario's seeded generator.
        n: the number of blocks (not necessarily distinct).
        firsts: the allowed first octets, each equally likely (e.g. ``RESIDENTIAL_FIRST``).

    Returns:
        (n,) int64 IPv4 block addresses (host octet 0).
    """
    a = np.asarray(firsts, np.int64)[rng.integers(0, len(firsts), n)]
    return (a << 24) | (rng.integers(0, 256, n) << 16) | (rng.integers(0, 256, n) << 8)


def v6_blocks(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random /48 blocks, encoded as in the module docstring (``V6 | prefix48 << 16``).

    Args:
        rng: the scenario's seeded generator.
        n: the number of blocks (not necessarily distinct).

    Returns:
        (n,) int64 IPv6 block addresses (host 0), all ≥ ``V6``.
    """
    return V6 | (rng.integers(0, 1 << 32, n).astype(np.int64) << 16)


def with_host(blocks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One address in each block (host 1-254 for IPv4, any for IPv6).

    Args:
        blocks: (n,) int64 block addresses, IPv4 and IPv6 mixed.
        rng: the scenario's seeded generator.

    Returns:
        (n,) int64 addresses, each inside its block (IPv6 host 1-65535).
    """
    h = rng.integers(1, 255, len(blocks)).astype(np.int64)
    h6 = rng.integers(1, 1 << 16, len(blocks)).astype(np.int64)
    return blocks | np.where(blocks >= V6, h6, h)


def block_of(ips: np.ndarray) -> np.ndarray:
    """The /24 (IPv4) or /48 (IPv6) block of each address.

    Args:
        ips: int64 addresses (any shape), IPv4 and IPv6 mixed.

    Returns:
        The block address of each (host bits cleared), same shape.
    """
    return np.where(ips >= V6, ips & ~np.int64(0xFFFF), ips & ~np.int64(0xFF))


def fmt(ip: int) -> str:
    """An address as log text.

    Args:
        ip: an int64 address as encoded here.

    Returns:
        Dotted IPv4 (``"81.2.3.4"``) or ``"2a0f:XXXX:XXXX:HHHH::1"`` for IPv6 (hex without leading zeros).
    """
    if ip >= V6:
        p = (ip >> 16) & 0xFFFFFFFF
        return f"2a0f:{p >> 16:x}:{p & 0xFFFF:x}:{ip & 0xFFFF:x}::1"
    return f"{ip >> 24}.{(ip >> 16) & 255}.{(ip >> 8) & 255}.{ip & 255}"


def cidr(block: int) -> str:
    """A block in CIDR notation.

    Args:
        block: an int64 block address (host bits 0), as encoded here.

    Returns:
        ``"81.2.3.0/24"`` or ``"2a0f:XXXX:XXXX::/48"``.
    """
    if block >= V6:
        p = (block >> 16) & 0xFFFFFFFF
        return f"2a0f:{p >> 16:x}:{p & 0xFFFF:x}::/48"
    return f"{block >> 24}.{(block >> 16) & 255}.{(block >> 8) & 255}.0/24"


class Network:
    """The blocks of one scenario: who lives where, and which pools the proxies draw from.

    Args:
        rng: the scenario's seeded generator, kept and used by every later draw.
        carriers: the number of mobile carriers (each 2-11 CGNAT /24 blocks); at least 1 is made.
        relay_exits: privacy-relay exit blocks, a third of them IPv6; half are also used by ordinary users.
    """

    def __init__(self, rng: np.random.Generator, carriers: int, relay_exits: int = 96):
        self.rng = rng
        self.carriers = [v4_blocks(rng, int(rng.integers(2, 12)), MOBILE_FIRST) for _ in range(max(1, carriers))]
        n6 = relay_exits // 3
        self.relays = np.concatenate([v4_blocks(rng, relay_exits - n6, RELAY_FIRST), v6_blocks(rng, n6)])
        self.relays_used = self.relays[rng.permutation(len(self.relays))[: len(self.relays) // 2]]  # by ordinary users
        self.cloud = v4_blocks(rng, 64, DATACENTER_FIRST)  # cloud and VPN blocks some ordinary users come from
        self.pools: dict[tuple[int, str], np.ndarray] = {}

    def homes(self, n: int) -> np.ndarray:
        """Home broadband addresses (a sticky address in a residential /24); about 8% IPv6.

        Args:
            n: the number of homes.

        Returns:
            (n,) int64 addresses.
        """
        blocks = v4_blocks(self.rng, n, RESIDENTIAL_FIRST)
        v6 = self.rng.random(n) < 0.08
        blocks[v6] = v6_blocks(self.rng, int(v6.sum()))
        return with_host(blocks, self.rng)

    def pool(self, provider: int, proxy: str, overlap: float, ordinary: np.ndarray, size: int) -> np.ndarray:
        """The blocks of a proxy provider's pool; ``overlap`` of them are blocks ordinary users also use.

        ``ordinary`` are the ordinary users' addresses of the matching kind (homes for residential
        proxies, carrier or relay addresses, cloud addresses for datacenter ones).

        Args:
            provider: the proxy provider's id; operators with the same (provider, proxy) share one pool,
                made on the first call and returned as is afterwards (later arguments are then ignored).
            proxy: the proxy type: "residential", "datacenter", "mobile" or "relay".
            overlap: the share of ``size`` taken from the blocks of ``ordinary``, in [0, 1].
            ordinary: int64 addresses of ordinary users to share blocks with (any number; may be empty).
            size: the pool's intended number of blocks (at least 1 of its own is drawn).

        Returns:
            The pool's distinct int64 block addresses, sorted: about ``size`` of them (fewer when draws
            repeat or ``ordinary`` has few blocks to share).

        Raises:
            KeyError: ``proxy`` is not one of the four types.
        """
        key = (provider, proxy)
        if key in self.pools:
            return self.pools[key]
        rng = self.rng
        n_shared = int(round(overlap * size))
        shared = np.unique(block_of(np.asarray(ordinary, np.int64)))
        shared = shared[rng.permutation(len(shared))[:n_shared]] if len(shared) else shared
        own = {
            "residential": lambda k: v4_blocks(rng, k, RESIDENTIAL_FIRST),
            "datacenter": lambda k: v4_blocks(rng, k, DATACENTER_FIRST),
            "mobile": lambda k: v4_blocks(rng, k, MOBILE_FIRST),
            "relay": lambda k: self.relays[rng.integers(0, len(self.relays), k)],
        }[proxy](max(1, size - len(shared)))
        self.pools[key] = np.unique(np.concatenate([shared, own]))
        return self.pools[key]
