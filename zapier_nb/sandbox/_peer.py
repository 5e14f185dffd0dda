"""Whether a loopback connection comes from a process of the sandbox's own Unix user.

Linux lists every TCP socket with its owner's uid in `/proc/net/tcp` and `tcp6`; the
client's end of a connection is the entry whose local address is the client's and whose
remote address is the server's. Elsewhere (or if the entry is not found) the answer is no.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from pathlib import Path

_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


def same_user(client: tuple[str, int] | None, server: tuple[str, int] | None) -> bool:
    if client is None or server is None or not hasattr(os, "getuid"):
        return False
    try:
        wanted = {(_hex(client[0], client[1], v6), _hex(server[0], server[1], v6)) for v6 in (0, 1)}
    except ValueError:
        return False
    for table in _TABLES:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 7 and (fields[1], fields[2]) in wanted:
                return fields[7] == str(os.getuid())
    return False


def _hex(host: str, port: int, v6: int) -> str:
    """An address as /proc/net/tcp (v6=0) or tcp6 (v6=1) prints it."""
    address = ipaddress.ip_address(host.strip("[]"))
    if v6 and address.version == 4:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    elif not v6 and address.version == 6:
        mapped = address.ipv4_mapped
        if mapped is None:
            raise ValueError("not an IPv4 address")
        address = mapped
    packed = address.packed
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{word:08X}" for word in words) + f":{port:04X}"
