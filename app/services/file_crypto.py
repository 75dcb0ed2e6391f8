"""Envelope encryption of stored files (used by app.services.storage only).

A stored object is `header + chunks`. The header names the key-encryption key (KEK, a
Fernet key of FILE_KEYS) by id and holds the file's random AES-256 data key wrapped with
it. The body is the plaintext in CHUNK-sized pieces, each sealed with AES-256-GCM under the
data key: `nonce(12) + ciphertext + tag(16)`, with the chunk's index and a final flag as
associated data, so chunks cannot be reordered, dropped or the file cut short. The last
chunk holds 0..CHUNK-1 bytes and carries the final flag.

The plaintext size follows from the object size, and any byte can be reached by opening
one chunk, so a Range request costs one chunk, not the file. Rotation re-wraps the data
key under the newest KEK and copies the body unchanged.

An object without MAGIC is a file stored before encryption: read as it is.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"BMENC\x00\x01\n"  # a NUL byte: no CSV, gzip, zip or xlsx starts like this
CHUNK = 64 * 1024
NONCE = 12
TAG = 16
OVERHEAD = NONCE + TAG
_HEAD = struct.Struct(">8sH")  # key id, wrapped key length
_AAD = struct.Struct(">QB")  # chunk index, final flag


class StoredFileUnreadable(OSError):
    """A stored object that cannot be decrypted: tampered with, cut short, or its KEK is gone."""


def key_id(key: str) -> bytes:
    """A short public name of a KEK (never the key itself): 8 bytes of its sha256."""
    return hashlib.sha256(key.encode()).digest()[:8]


class KeyRing:
    """FILE_KEYS, newest first: the first wraps new data keys, any of them unwraps."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("FILE_KEYS is empty")
        self._by_id: dict[bytes, Fernet] = {}
        for position, key in enumerate(keys, start=1):
            try:
                self._by_id.setdefault(key_id(key), Fernet(key))
            except (ValueError, TypeError):
                raise ValueError(f"FILE_KEYS entry #{position} is not a valid Fernet key") from None
        self.newest = key_id(keys[0])

    def wrap(self, data_key: bytes) -> bytes:
        wrapped = self._by_id[self.newest].encrypt(data_key)
        return _HEAD.pack(self.newest, len(wrapped)) + wrapped

    def unwrap(self, kid: bytes, wrapped: bytes) -> bytes:
        fernet = self._by_id.get(kid)
        if fernet is None:
            raise StoredFileUnreadable(f"the file's key {kid.hex()} is not in FILE_KEYS (removed before rotation?)")
        try:
            return fernet.decrypt(wrapped)
        except InvalidToken:
            raise StoredFileUnreadable("the file's wrapped data key does not verify (tampered header)") from None


def read_header(raw: BinaryIO) -> tuple[bytes, bytes, int] | None:
    """(key id, wrapped key, header length) of an encrypted object at its start; None if plaintext."""
    magic = raw.read(len(MAGIC))
    if magic != MAGIC:
        return None
    head = raw.read(_HEAD.size)
    if len(head) != _HEAD.size:
        raise StoredFileUnreadable("the stored file's header is cut short")
    kid, length = _HEAD.unpack(head)
    wrapped = raw.read(length)
    if len(wrapped) != length:
        raise StoredFileUnreadable("the stored file's header is cut short")
    return kid, wrapped, len(MAGIC) + _HEAD.size + length


def plain_size(body: int) -> int:
    """The plaintext size of an encrypted body of `body` bytes."""
    full, last = divmod(body - OVERHEAD, CHUNK + OVERHEAD)
    if body < OVERHEAD or last >= CHUNK:
        raise StoredFileUnreadable("the stored file's length is not one this store writes (cut short?)")
    return full * CHUNK + last


class EncryptingWriter:
    """Seals what is written into chunks on `raw`; `finish()` writes the final chunk."""

    def __init__(self, raw: BinaryIO, ring: KeyRing) -> None:
        self._raw = raw
        data_key = AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(data_key)
        self._buffer = bytearray()
        self._index = 0
        raw.write(MAGIC + ring.wrap(data_key))

    def _seal(self, plain: bytes, final: bool) -> None:
        nonce = os.urandom(NONCE)
        self._raw.write(nonce + self._aead.encrypt(nonce, plain, _AAD.pack(self._index, final)))
        self._index += 1

    def write(self, data: bytes) -> int:
        self._buffer += data
        # Keep at least one byte back: the final chunk must be the short one.
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), False)
            del self._buffer[:CHUNK]
        return len(data)

    def finish(self) -> None:
        if len(self._buffer) == CHUNK:
            self._seal(bytes(self._buffer), False)
            self._buffer.clear()
        self._seal(bytes(self._buffer), True)
        self._buffer.clear()

    def flush(self) -> None:
        self._raw.flush()


class DecryptingReader(io.RawIOBase):
    """The plaintext of an encrypted object, seekable when the object is; holds one chunk."""

    def __init__(self, raw: BinaryIO, ring: KeyRing, object_size: int) -> None:
        super().__init__()
        self._raw = raw
        header = read_header(raw)
        if header is None:
            raise StoredFileUnreadable("not an encrypted stored file")
        kid, wrapped, self._start = header
        self._aead = AESGCM(ring.unwrap(kid, wrapped))
        self.size = plain_size(object_size - self._start)
        self._chunks = self.size // CHUNK + 1
        self._pos = 0
        self._loaded: tuple[int, bytes] | None = None
        self._chunk(0)  # a tampered header or first chunk fails at open, before any byte goes out

    def _chunk(self, index: int) -> bytes:
        if self._loaded is not None and self._loaded[0] == index:
            return self._loaded[1]
        final = index == self._chunks - 1
        length = (self.size - index * CHUNK if final else CHUNK) + OVERHEAD
        self._raw.seek(self._start + index * (CHUNK + OVERHEAD))
        sealed = self._raw.read(length)
        try:
            if len(sealed) != length:
                raise InvalidTag
            plain = self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], _AAD.pack(index, final))
        except InvalidTag:
            raise StoredFileUnreadable(f"chunk {index} of the stored file does not verify (tampered?)") from None
        self._loaded = (index, plain)
        return plain

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        if self._pos >= self.size:
            return 0
        index, offset = divmod(self._pos, CHUNK)
        piece = self._chunk(index)[offset : offset + len(buffer)]
        buffer[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def copy_rewrapped(raw: BinaryIO, ring: KeyRing, out: BinaryIO) -> bool:
    """Write `raw` to `out` with its data key wrapped by the newest KEK; the body is copied as it is.

    False (nothing written) when the object is plaintext or already under the newest key.
    """
    header = read_header(raw)
    if header is None or header[0] == ring.newest:
        return False
    data_key = ring.unwrap(header[0], header[1])
    out.write(MAGIC + ring.wrap(data_key))
    while block := raw.read(1024 * 1024):
        out.write(block)
    return True
