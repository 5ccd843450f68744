#!/usr/bin/env python3
"""gen_weights.py DIR: writes the malformed .safetensors files of the bad-input corpus
(tests/bad/weights/cases.txt names each with its expected diagnostic) into DIR.
Standard library only. Every file is meant for tests/bad/weights/lin.lua, whose
parameters are fc.weight [4,3] and fc.bias [4]."""
import json
import struct
import sys


def header_bytes(header):
    h = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return h + b" " * (-len(h) % 8)


def raw(header, data=b"", length=None):
    """8-byte little-endian header length (the real one unless given) + header + data"""
    h = header_bytes(header)
    return struct.pack("<Q", len(h) if length is None else length) + h + data


def tensors(spec, dtype="F32"):
    """spec: [(name, shape)] laid out one after another, every element 0.5"""
    header, data = {}, b""
    for name, shape in spec:
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + 4 * n]}
        data += struct.pack("<%df" % n, *[0.5] * n)
    return header, data


GOOD = [("fc.weight", [4, 3]), ("fc.bias", [4])]


def with_entry(name, **changes):
    header, data = tensors(GOOD)
    header[name] = dict(header[name], **changes)
    return raw(header, data)


def cases():
    header, data = tensors(GOOD)
    good = raw(header, data)
    return {
        "good": good,
        "empty": b"",
        "short_length": b"\x10\x00\x00",
        "truncated": good[:len(good) - 10],
        "header_too_long": raw(header, data, length=1000),
        "header_huge": raw(header, data, length=1 << 62),
        "not_json": raw(b'{"fc.weight": {"dtype": '),
        "not_object": raw(b"[1, 2, 3]"),
        "entry_not_object": raw({"fc.weight": 7}),
        "metadata_not_object": raw(dict(header, __metadata__=[1]), data),
        "offsets_out_of_range": with_entry("fc.bias", data_offsets=[48, 4096]),
        "offsets_reversed": with_entry("fc.bias", data_offsets=[64, 48]),
        "offsets_overlap": with_entry("fc.bias", shape=[4], data_offsets=[32, 48]),
        "offsets_size": with_entry("fc.bias", shape=[3]),
        "unknown_dtype": with_entry("fc.bias", dtype="Q4"),
        "negative_dim": with_entry("fc.bias", shape=[-4]),
        "missing_dtype": raw({"fc.bias": {"shape": [4], "data_offsets": [0, 16]}}, data[:16]),
        "typo": raw(*tensors([("fc.weigth", [4, 3]), ("fc.bias", [4])])),
        "missing": raw(*tensors([("fc.bias", [4])])),
        "unused": raw(*tensors(GOOD + [("fc.scale", [1])])),
        "wrong_shape": raw(*tensors([("fc.weight", [3, 4]), ("fc.bias", [4])])),
    }


if __name__ == "__main__":
    for name, content in cases().items():
        with open("%s/%s.safetensors" % (sys.argv[1], name), "wb") as f:
            f.write(content)
