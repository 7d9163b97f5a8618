"""Keccak-256, the hash of Ethereum addresses' EIP-55 checksum, from pycryptodome.

The standard library's hashlib.sha3_256 is the NIST standard, which pads differently and gives
other digests; the domain core takes this function as an argument instead of importing it.
"""

from __future__ import annotations

from Crypto.Hash import keccak


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()
