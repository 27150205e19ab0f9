"""One Parquet file from row groups encoded separately: the bytes a single writer would write.

Parquet encodes every column chunk on its own (its pages, its dictionary, its statistics), so a
row group written as a one-row-group file holds exactly the column-chunk bytes that a writer of
the whole file would have put there; only the footer's absolute offsets (and the row groups'
ordinals) depend on where the row group lands. ``Stitcher`` appends the parts' column chunks and
writes one footer: the first part's ``FileMetaData`` with every part's row groups, offsets moved.
The footer is Thrift's compact protocol; ``_decode``/``_encode`` round-trip it byte for byte
(field ids, types and order kept as read), so row groups can be encoded in parallel threads.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

MAGIC = b"PAR1"
# compact protocol types
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)


def _varint(b: bytes, i: int) -> tuple[int, int]:
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def _put_varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zz(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _put_zz(out: bytearray, n: int) -> None:
    _put_varint(out, (n << 1) ^ (n >> 63) if n < 0 else n << 1)


def _value(b: bytes, i: int, t: int):
    if t in (_I16, _I32, _I64):
        v, i = _varint(b, i)
        return _zz(v), i
    if t == _BINARY:
        n, i = _varint(b, i)
        return bytes(b[i:i + n]), i + n
    if t == _STRUCT:
        return _struct(b, i)
    if t in (_LIST, _SET):
        h = b[i]
        i += 1
        n, et = h >> 4, h & 0x0F
        if n == 15:
            n, i = _varint(b, i)
        items = []
        for _ in range(n):
            if et in (_TRUE, _FALSE, _BYTE):  # one byte each in a collection
                v, i = b[i], i + 1
            else:
                v, i = _value(b, i, et)
            items.append(v)
        return (et, items), i
    if t == _BYTE:
        return b[i], i + 1
    if t == _DOUBLE:
        return bytes(b[i:i + 8]), i + 8
    raise ValueError(f"Parquet footer: unsupported Thrift type {t}")  # maps: not in FileMetaData


def _struct(b: bytes, i: int) -> tuple[list, int]:
    """A struct as [[field id, type, value], ...] in the order read; bools carry their type."""
    fields, last = [], 0
    while True:
        h = b[i]
        i += 1
        if h == 0:
            return fields, i
        t, delta = h & 0x0F, h >> 4
        if delta:
            fid = last + delta
        else:
            v, i = _varint(b, i)
            fid = _zz(v)
        if t in (_TRUE, _FALSE):
            v = None
        else:
            v, i = _value(b, i, t)
        fields.append([fid, t, v])
        last = fid


def _put_value(out: bytearray, t: int, v) -> None:
    if t in (_I16, _I32, _I64):
        _put_zz(out, v)
    elif t == _BINARY:
        _put_varint(out, len(v))
        out += v
    elif t == _STRUCT:
        _put_struct(out, v)
    elif t in (_LIST, _SET):
        et, items = v
        if len(items) < 15:
            out.append((len(items) << 4) | et)
        else:
            out.append(0xF0 | et)
            _put_varint(out, len(items))
        for x in items:
            if et in (_TRUE, _FALSE, _BYTE):
                out.append(x)
            else:
                _put_value(out, et, x)
    elif t == _BYTE:
        out.append(v)
    elif t == _DOUBLE:
        out += v
    else:
        raise ValueError(f"Parquet footer: unsupported Thrift type {t}")


def _put_struct(out: bytearray, fields: list) -> None:
    last = 0
    for fid, t, v in fields:
        if 0 < fid - last <= 15:
            out.append(((fid - last) << 4) | t)
        else:
            out.append(t)
            _put_zz(out, fid)
        if t not in (_TRUE, _FALSE):
            _put_value(out, t, v)
        last = fid
    out.append(0)


def _decode(b: bytes) -> list:
    fields, end = _struct(b, 0)
    if end != len(b):
        raise ValueError("Parquet footer: trailing bytes")
    return fields


def _encode(fields: list) -> bytes:
    out = bytearray()
    _put_struct(out, fields)
    return bytes(out)


def _get(fields: list, fid: int):
    for f in fields:
        if f[0] == fid:
            return f
    return None


# FileMetaData 3 num_rows, 4 row_groups; RowGroup 1 columns, 5 file_offset, 7 ordinal;
# ColumnChunk 2 file_offset, 3 meta_data, 4 offset index, 6 column index; ColumnMetaData
# 9 data page, 10 index page, 11 dictionary page, 14 bloom filter: every absolute offset
_CHUNK_OFFSETS, _META_OFFSETS = (2, 4, 6), (9, 10, 11, 14)


def _shift(fields: list, fid: int, shift: int) -> None:
    f = _get(fields, fid)
    if f is not None and f[2] > 0:  # 0: not set (ColumnChunk.file_offset is 0 in Arrow >= 15)
        f[2] += shift


def _move(row_group: list, shift: int, ordinal: int) -> None:
    _shift(row_group, 5, shift)
    f = _get(row_group, 7)
    if f is not None:
        f[2] = ordinal
    for chunk in _get(row_group, 1)[2][1]:
        for fid in _CHUNK_OFFSETS:
            _shift(chunk, fid, shift)
        meta = _get(chunk, 3)
        for fid in _META_OFFSETS if meta is not None else ():
            _shift(meta[2], fid, shift)


def split_file(data) -> tuple[memoryview, list]:
    """A Parquet file's bytes (any buffer) -> (its column chunks' bytes, its decoded FileMetaData)."""
    data = memoryview(data).cast("B")  # unsigned bytes (a pa.Buffer views as signed)
    if data[:4] != MAGIC or data[-4:] != MAGIC:
        raise ValueError("not a Parquet file")
    n = struct.unpack("<I", data[-8:-4])[0]
    return data[4:len(data) - 8 - n], _decode(data[len(data) - 8 - n:-8])


class Stitcher:
    """Write one-row-group Parquet files (as bytes, in order) into ``out`` as one file."""

    def __init__(self, out: BinaryIO):
        self.out, self.pos, self.meta, self.groups, self.rows = out, len(MAGIC), None, [], 0
        out.write(MAGIC)

    def add(self, part) -> None:
        body, meta = split_file(part)
        groups = _get(meta, 4)[2][1] if _get(meta, 4) is not None else []
        for g in groups:
            _move(g, self.pos - len(MAGIC), len(self.groups))
            self.groups.append(g)
        self.rows += _get(meta, 3)[2]
        if self.meta is None:
            self.meta = meta
        self.out.write(body)
        self.pos += len(body)

    def close(self) -> None:
        meta = self.meta
        _get(meta, 3)[2] = self.rows
        rg = _get(meta, 4)
        if rg is not None:
            rg[2] = (rg[2][0], self.groups)
        footer = _encode(meta)
        self.out.write(footer + struct.pack("<I", len(footer)) + MAGIC)
