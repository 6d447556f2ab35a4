"""Uploads: size limit, content-type detection, storage and the per-tenant file quota."""

from __future__ import annotations

import mimetypes
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype

from frontdesk.domain.errors import Invalid, NotFound
from frontdesk.domain.ids import new_file_id
from frontdesk.domain.journal import Journal, retry_conflicts
from frontdesk.storage.interfaces import BlobStore
from frontdesk.storage.records import FileRecord

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # the documented limit of the Mobile/Web API
SNIFF_BYTES = 8192


class UploadTooLarge(Invalid):
    """The upload exceeds ``MAX_UPLOAD_BYTES`` (wire code 5501)."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    record: FileRecord
    path: Path


def _base_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C")
    return base.strip().lstrip(".")[:200]


def clean_file_name(name: str) -> str:
    """The base name of a client-supplied file name, without path parts or control characters."""
    return _base_name(name) or "file"


def shown_file_name(given: str, stored: str) -> str:
    """The name a chat shows for a file: the one the client's ``chat_session_file`` gives (cleaned
    like an upload's), else the upload's. Bridges upload under a temporary name (spchat:
    ``./tmp/<uuid>``) and name the file in the event."""
    return _base_name(given) or stored


def detect_content_type(head: bytes, file_name: str, declared: str) -> str:
    """Magic numbers first, then the file name's extension, then what the client declared."""
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    guessed, _ = mimetypes.guess_type(file_name)
    if guessed:
        return guessed
    if declared and "/" in declared and len(declared) < 100:
        return declared.split(";", 1)[0].strip().lower()
    return "application/octet-stream"


class FileService:
    def __init__(self, journal: Journal, blobs: BlobStore, max_files_per_tenant: int = 1000) -> None:
        self.journal = journal
        self.blobs = blobs
        self.max_files_per_tenant = max_files_per_tenant

    async def upload(self, tenant: str, uploader: str, file_name: str, declared_type: str, source: BinaryIO,
                     size: int) -> FileRecord:
        if size > MAX_UPLOAD_BYTES:
            raise UploadTooLarge(f"files are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        name = clean_file_name(file_name)
        head = source.read(SNIFF_BYTES)
        source.seek(0)
        content_type = detect_content_type(head, name, declared_type)
        file_id = new_file_id()
        stored_size = self.blobs.put(file_id, source)
        return await self._record(tenant, uploader, file_id, name, content_type, stored_size)

    @retry_conflicts
    async def _record(self, tenant: str, uploader: str, file_id: str, name: str, content_type: str,
                      stored_size: int) -> FileRecord:
        """Store the uploaded file's record, evicting the tenant's oldest beyond its quota."""
        async with self.journal.action() as ctx:
            record = FileRecord(file_id=file_id, tenant=tenant, chat_id="", file_name=name,
                                content_type=content_type, size=stored_size, created_at=ctx.now, uploader=uploader)
            await ctx.tx.files.insert(record)
            # the newest files replace the oldest beyond the tenant's quota (documented: up to 1000)
            excess = await ctx.tx.files.count_for_tenant(tenant) - self.max_files_per_tenant
            evicted = await ctx.tx.files.oldest_for_tenant(tenant, excess) if excess > 0 else []
            for old in evicted:
                await ctx.tx.files.delete(old.file_id)
        for old in evicted:
            self.blobs.delete(old.file_id)
        return record

    async def open(self, file_id: str, chat_id: str | None = None) -> StoredFile:
        """A file by id; when ``chat_id`` is given the file must belong to that chat."""
        async with self.journal.read(snapshot=False) as tx:
            record = await tx.files.get(file_id)
        if record is None or (chat_id is not None and record.chat_id != chat_id):
            raise NotFound("file not found")
        path = self.blobs.path(file_id)
        if path is None:
            raise NotFound("file not found")
        return StoredFile(record, path)
