"""A small zip writer that copies members of another zip without recompressing them.

`zipfile` can read raw member bytes but not write them; a refresh must copy every part it does
not own with its compressed bytes unchanged, so this writer lays out the archive itself: a local
header, the member's bytes, and at the end the central directory. New members are deflated into
a temporary file first (`DeflateSink`), which also gives their size before they are placed.
Workbooks stay far below the 4 GB limits of plain (non-Zip64) archives: a sheet holds at most
1,048,576 rows, so a larger archive is refused with a clear message instead of written as Zip64.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from pipeline.errors import ConfigError

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_LIMIT = 0xFFFFFFFF
_DATA_DESCRIPTOR = 0x08
_UTF8 = 0x800
CHUNK = 1 << 20


def _dos_time(date_time: tuple) -> tuple[int, int]:
    y, mo, d, h, mi, s = date_time
    return h << 11 | mi << 5 | s // 2, max(y - 1980, 0) << 9 | mo << 5 | d


def _strip_zip64(extra: bytes) -> bytes:
    """Extra fields without the Zip64 one (its sizes are rewritten from the central directory)."""
    out, i = b"", 0
    while i + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, i)
        if kind != 1:
            out += extra[i : i + 4 + size]
        i += 4 + size
    return out


@dataclass
class _Entry:
    name: bytes
    flags: int
    method: int
    dostime: int
    dosdate: int
    crc: int
    csize: int
    usize: int
    offset: int
    extra: bytes
    comment: bytes
    create_version: int
    create_system: int
    extract_version: int
    internal_attr: int
    external_attr: int


class DeflateSink:
    """Text or bytes deflated into a temporary file as they come, with CRC and sizes counted."""

    def __init__(self, level: int = 6):
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the sink, closed by discard()
        self._z = zlib.compressobj(level, zlib.DEFLATED, -15)
        self._parts: list[str] = []
        self._pending = 0
        self.crc = 0
        self.usize = 0
        self.csize = 0
        self.closed = False

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._pending += len(text)
        if self._pending >= CHUNK:
            self._flush()

    def write_bytes(self, data: bytes) -> None:
        self._flush()
        self._feed(data)

    def _flush(self) -> None:
        if self._parts:
            data = "".join(self._parts).encode("utf-8")
            self._parts.clear()
            self._pending = 0
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.usize += len(data)
        out = self._z.compress(data)
        if out:
            self.file.write(out)
            self.csize += len(out)

    def finish(self) -> DeflateSink:
        if not self.closed:
            self._flush()
            out = self._z.flush()
            self.file.write(out)
            self.csize += len(out)
            self.closed = True
        return self

    def discard(self) -> None:
        self.file.close()


class ZipWriter:
    """Writes members in the order given; `close()` writes the central directory."""

    def __init__(self, fp: BinaryIO, *, comment: bytes = b""):
        self.fp = fp
        self.comment = comment
        self._base = fp.tell()
        self._entries: list[_Entry] = []

    def _pos(self) -> int:
        pos = self.fp.tell() - self._base
        if pos >= _LIMIT:
            raise ConfigError("The workbook would be larger than 4 GB, which Ledgerline does not write.")
        return pos

    def _header(self, e: _Entry) -> None:
        self.fp.write(
            _LOCAL.pack(
                b"PK\x03\x04",
                e.extract_version,
                e.flags,
                e.method,
                e.dostime,
                e.dosdate,
                e.crc,
                e.csize,
                e.usize,
                len(e.name),
                len(e.extra),
            )
        )
        self.fp.write(e.name)
        self.fp.write(e.extra)

    def copy_raw(self, src: BinaryIO, info: zipfile.ZipInfo) -> None:
        """Copy a member of another archive: the same compressed bytes, CRC and attributes."""
        src.seek(info.header_offset)
        fields = _LOCAL.unpack(src.read(_LOCAL.size))
        if fields[0] != b"PK\x03\x04":
            raise ConfigError(f"The workbook is damaged: the zip entry of {info.filename} cannot be read.")
        name = src.read(fields[9])
        extra = _strip_zip64(src.read(fields[10]))
        if info.compress_size >= _LIMIT or info.file_size >= _LIMIT:
            raise ConfigError(
                f"{info.filename} is larger than 4 GB; Ledgerline cannot rewrite this workbook."
            )
        entry = _Entry(
            name=name,
            flags=info.flag_bits & ~_DATA_DESCRIPTOR,
            method=info.compress_type,
            dostime=fields[4],
            dosdate=fields[5],
            crc=info.CRC,
            csize=info.compress_size,
            usize=info.file_size,
            offset=self._pos(),
            extra=extra,
            comment=info.comment,
            create_version=min(info.create_version, 45),
            create_system=info.create_system,
            extract_version=min(max(info.extract_version, 20), 45),
            internal_attr=info.internal_attr,
            external_attr=info.external_attr,
        )
        self._header(entry)
        left = info.compress_size
        while left:
            chunk = src.read(min(CHUNK, left))
            if not chunk:
                raise ConfigError(f"The workbook is damaged: {info.filename} is cut short.")
            self.fp.write(chunk)
            left -= len(chunk)
        self._entries.append(entry)

    def _new_entry(self, name: str, like: zipfile.ZipInfo | None, crc: int, csize: int, usize: int) -> _Entry:
        encoded = name.encode("utf-8")
        flags = _UTF8 if not name.isascii() else 0
        date_time = like.date_time if like is not None else (1980, 1, 1, 0, 0, 0)
        dostime, dosdate = _dos_time(date_time)
        if csize >= _LIMIT or usize >= _LIMIT:
            raise ConfigError(f"{name} would be larger than 4 GB; Ledgerline does not write such workbooks.")
        return _Entry(
            name=encoded,
            flags=flags,
            method=zipfile.ZIP_DEFLATED,
            dostime=dostime,
            dosdate=dosdate,
            crc=crc,
            csize=csize,
            usize=usize,
            offset=self._pos(),
            extra=b"",
            comment=b"",
            create_version=like.create_version if like is not None else 20,
            create_system=like.create_system if like is not None else 0,
            extract_version=20,
            internal_attr=like.internal_attr if like is not None else 0,
            external_attr=like.external_attr if like is not None else 0,
        )

    def write_bytes(self, name: str, data: bytes, *, like: zipfile.ZipInfo | None = None) -> None:
        """A new member from bytes in memory (deflated); `like`: the member it replaces."""
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = z.compress(data) + z.flush()
        entry = self._new_entry(name, like, zlib.crc32(data), len(packed), len(data))
        self._header(entry)
        self.fp.write(packed)
        self._entries.append(entry)

    def write_sink(self, name: str, sink: DeflateSink, *, like: zipfile.ZipInfo | None = None) -> None:
        """A new member already deflated into a `DeflateSink`."""
        sink.finish()
        entry = self._new_entry(name, like, sink.crc, sink.csize, sink.usize)
        self._header(entry)
        sink.file.seek(0)
        shutil.copyfileobj(sink.file, self.fp, CHUNK)
        self._entries.append(entry)

    def close(self) -> None:
        start = self._pos()
        for e in self._entries:
            self.fp.write(
                _CENTRAL.pack(
                    b"PK\x01\x02",
                    e.create_system << 8 | e.create_version,
                    e.extract_version,
                    e.flags,
                    e.method,
                    e.dostime,
                    e.dosdate,
                    e.crc,
                    e.csize,
                    e.usize,
                    len(e.name),
                    len(e.extra),
                    len(e.comment),
                    0,
                    e.internal_attr,
                    e.external_attr,
                    e.offset,
                )
            )
            self.fp.write(e.name)
            self.fp.write(e.extra)
            self.fp.write(e.comment)
        end = self._pos()
        if len(self._entries) >= 0xFFFF:
            raise ConfigError("The workbook has more than 65,535 parts; Ledgerline cannot rewrite it.")
        self.fp.write(
            _END.pack(
                b"PK\x05\x06",
                0,
                0,
                len(self._entries),
                len(self._entries),
                end - start,
                start,
                len(self.comment),
            )
        )
        self.fp.write(self.comment)
