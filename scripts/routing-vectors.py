#!/usr/bin/env python3
"""Reference implementation of commy's key routing, independent of the package.

It computes the owners of the test-vector keys with Python's xxhash module
(Debian: python3-xxhash) from the rule in docs/ROUTING.md alone, and prints
them as JSON. test/routing.test.ts checks that this output, the tables in
docs/ROUTING.md and the package's own answers are the same.

Usage: python3 scripts/routing-vectors.py
"""
import json
import struct

import xxhash

MEMBERS = ["web-1", "web-2", "web-3", "web-4", "web-5"]
# (label, key bytes): short, empty, a 16+ byte key (XXH32's stripe loop), non-ASCII UTF-8, raw bytes.
KEYS = [
    ("session-42", "session-42".encode("utf-8")),
    ("user:42", "user:42".encode("utf-8")),
    ("", b""),
    ("order-2026-12-03-000017", "order-2026-12-03-000017".encode("utf-8")),
    ("ключ", "ключ".encode("utf-8")),
    ("0x00 0x01 0xfe 0xff", bytes([0x00, 0x01, 0xFE, 0xFF])),
]


def seed(server_id):
    return xxhash.xxh32_intdigest(server_id.encode("utf-8"), seed=0)


def owners(key, members):
    key_hash = xxhash.xxh32_intdigest(key, seed=0)
    word = struct.pack("<I", key_hash)
    scored = [(xxhash.xxh32_intdigest(word, seed=seed(m)), m) for m in members]
    # Highest score first; equal scores by serverId, ascending.
    scored.sort(key=lambda s: (-s[0], s[1].encode("utf-8")))
    return key_hash, [m for _, m in scored]


def main():
    rows = []
    for label, key in KEYS:
        key_hash, ranked = owners(key, MEMBERS)
        _, without = owners(key, [m for m in MEMBERS if m != "web-3"])
        rows.append(
            {
                "key": label,
                "keyHex": key.hex(),
                "keyHash": "%08x" % key_hash,
                "ranking": ranked,
                "withoutWeb3": without[:2],
            }
        )
    # Each member's score for the first key, to check a port step by step.
    word = struct.pack("<I", xxhash.xxh32_intdigest(KEYS[0][1], seed=0))
    scores = {m: "%08x" % xxhash.xxh32_intdigest(word, seed=seed(m)) for m in MEMBERS}
    out = {"seeds": {m: "%08x" % seed(m) for m in MEMBERS}, "scores": scores, "vectors": rows}
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
