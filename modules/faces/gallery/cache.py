"""One decrypted gallery matrix per process, current with one indexed read per search.

Every enroll bumps ``GalleryState.version`` (and stamps the reference with it) in the same
transaction, so a process extends its matrix with just the rows added since the version it
holds; every removal (delete, erasure, expiry) also bumps ``removals``, upon which a process
reads the live ids (one query, no descriptors) and masks out the rows that went. Nothing is
decrypted but what was added. The process that removes rows drops them from its own matrix as
soon as the removal commits. The decrypted matrix lives in this process's memory only.

Every change also rewrites a random ``generation``: a state that comes back to a (version,
removals) this process holds (a restored database, a recreated row) rebuilds the matrix. A row
that does not decrypt (tampered, moved, its subject key damaged) is left out and logged by id,
counted in ``skipped``: the rest of the gallery still answers.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from modules.faces import models
from modules.faces.gallery import crypto, keys
from modules.faces.gallery.index import GalleryIndex

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_held: tuple[int, int, str] | None = None
_index: GalleryIndex | None = None
skipped = 0  # rows of the current matrix left out because they did not decrypt (see _rows)


def state() -> tuple[int, int, str]:
    """(version, removals, generation): one indexed row, read without the ORM's compilation
    (it runs before every search). A changed key epoch drops the cached master key."""
    table = models.GalleryState._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT version, removals, generation, key_epoch FROM {table} WHERE id = 1"  # noqa: S608
        )
        row = cursor.fetchone()
    if row is None:
        return (0, 0, "")
    keys.observe_epoch(int(row[3]))
    return (int(row[0]), int(row[1]), row[2] or "")


def bump(*, removal: bool) -> int:
    """Call inside the transaction that changes the gallery; returns the new version. The row
    lock it takes orders concurrent changes, so versions follow commit order."""
    generation = uuid.uuid4().hex
    changes: dict[str, Any] = {"version": F("version") + 1, "generation": generation}
    if removal:
        changes["removals"] = F("removals") + 1
    if not models.GalleryState.objects.filter(pk=1).update(**changes):
        models.GalleryState.objects.create(
            pk=1, version=1, removals=int(removal), generation=generation
        )
    return models.GalleryState.objects.filter(pk=1).values_list("version", flat=True).get()


def gallery_index() -> GalleryIndex:
    global _held, _index, skipped
    current = state()
    with _lock:
        if _held == current and _index is not None:
            return _index
        if (
            _held is None
            or _index is None
            or current[:2] < _held[:2]
            or current[1] < _held[1]
            or (current[2] != _held[2] and current[:2] == _held[:2])
        ):
            # First use, the database went back (restored, or a test's rollback), or the same
            # (version, removals) with another generation (a different history): rebuild.
            skipped = 0
            index = GalleryIndex.build(_rows(after=None, upto=current[0]))
        else:
            index = _index
            if _held[1] != current[1]:
                index = index.only(_live_ids())
            index = index.extended(_rows(after=_held[0], upto=current[0]))
        _index, _held = index, current
        return _index


def removed(ids: Iterable[int]) -> None:
    """Call inside the transaction that deletes references ``ids``: once it commits, their
    decrypted descriptors leave this process's matrix at once (a rollback keeps them)."""
    transaction.on_commit(partial(_discard, list(ids)))


def _discard(ids: list[int]) -> None:
    global _index
    with _lock:
        if _index is not None and ids:
            _index = _index.without(ids)


def forget() -> None:
    """Drop this process's matrix (tests simulating another process)."""
    global _held, _index
    with _lock:
        _held = _index = None


def _live_ids() -> list[int]:
    # Every id, unfiltered: the scan reads a covering index, not the rows with their sealed
    # descriptors. Ids newer than the version read are harmless: a mask only keeps rows.
    return list(models.Reference.objects.values_list("id", flat=True))


def _rows(*, after: int | None, upto: int) -> list[tuple[int, Any, float]]:
    """The references added in (after, upto], decrypted. Read with a raw cursor in chunks: a
    cold build of 100,000 rows must not pay the ORM's per-row converters (UUID, datetime)."""
    import numpy as np

    global skipped
    queryset = models.Reference.objects.filter(added_version__lte=upto)
    if after is not None:
        queryset = queryset.filter(added_version__gt=after)
    sql, params = (
        queryset.order_by("id")
        .values_list("id", "subject_id", "uid", "descriptor", "subject__key__wrapped", "expires_at")
        .query.sql_with_params()
    )
    master = keys.master_key()
    subject_keys: dict[int, bytes | None] = {}
    rows = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(2000):
            for ref_id, subject_id, uid, sealed, wrapped, expires_at in chunk:
                if wrapped is None:  # the key is gone: the descriptor is unreadable by design
                    continue
                if subject_id not in subject_keys:
                    subject_keys[subject_id] = _subject_key(master, bytes(wrapped), subject_id)
                key = subject_keys[subject_id]
                try:
                    if key is None:
                        raise crypto.Unreadable("the subject key does not unwrap")
                    aad = crypto.reference_aad(_uuid_text(uid), subject_id)
                    plain = crypto.open_sealed(key, bytes(sealed), aad)
                except crypto.Unreadable:
                    # One tampered or moved row must not take the gallery down: leave it out.
                    skipped += 1
                    _log.warning(
                        "gallery reference %s (subject %s) unreadable: skipped", ref_id, subject_id
                    )
                    continue
                descriptor = np.frombuffer(plain, dtype="<f8")
                rows.append((int(ref_id), descriptor, _epoch_seconds(expires_at)))
    return rows


def _uuid_text(value: Any) -> str:
    """A uuid column's raw value as str(uuid.UUID): SQLite stores 32 hex digits."""
    if isinstance(value, str) and len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return str(value)


def _epoch_seconds(value: Any) -> float:
    """A datetime column's raw value: an aware datetime, or SQLite's naive UTC text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _subject_key(master: bytes, wrapped: bytes, subject_id: int) -> bytes | None:
    """The subject's data key, or None when this one key does not unwrap (tampered or moved).
    When no key unwraps, the master key is wrong: GalleryKeyMismatch, as before."""
    try:
        return crypto.unwrap_key(master, wrapped, subject_id)
    except crypto.Unreadable:
        if not keys.master_key_opens_any():
            raise keys.GalleryKeyMismatch() from None
        _log.warning("gallery subject %s: key does not unwrap, its references skipped", subject_id)
        return None
