"""``Idempotency-Key`` for API writes: a repeated request returns the first response.

A client that POSTs a deployment and loses the answer (a timeout, a dropped connection)
cannot tell whether it was created. With ``Idempotency-Key: <anything unique>`` it may simply
send the same request again: the first response (status and body) is kept in
``portal.models.IdempotencyKey`` and replayed, with ``Idempotent-Replayed: true``, and nothing
is done twice.

- Keys belong to (user, tenant, key) and are bound to the first request's method, path and
  body (a fingerprint): the same key with a different request is a 422.
- Exactly one of two concurrent requests with one key does the work: the first to insert the
  key row (a unique constraint) owns it; the other sees it unfinished and gets 409
  ``idempotency_key_in_progress`` (or, once it is finished, the replay).
- The work and the stored response commit in one transaction, and the stored response is
  written only while the row is still ours (its ``created`` is the fencing token). So a
  reservation left behind by a crashed process holds nothing that was done, and after
  ``IN_PROGRESS_TIMEOUT`` a repeat may take it over and do the work.
- Only 2xx responses and 400s (invalid input) are kept. Anything else (403, 404, 409 for a
  wrong state or quota, 5xx) releases the key, so the client can retry once the cause is
  gone. Keys expire after ``KEY_TTL`` (``idempotency_keys_expire``, run by beat).

Use it on a view method of a ``TenantAPIMixin`` view::

    @extend_schema(parameters=[IDEMPOTENCY_KEY], responses={201: Out, **IDEMPOTENCY_RESPONSES})
    @idempotent
    def post(self, request): ...
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.renderers import ORJSONRenderer
from portal.api.schema import ErrorSerializer
from portal.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255  # IdempotencyKey.key
KEY_TTL = timedelta(hours=24)
# An unfinished key older than this belongs to a request that died (no API request runs for
# minutes): a repeat may take it over. Its work, if any, rolled back with it (see above).
IN_PROGRESS_TIMEOUT = timedelta(minutes=5)

IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID) of at most 255 characters. Repeating the request with "
    "the same key within 24 hours returns the first response (with `Idempotent-Replayed: true`) "
    "and does nothing again; the same key with a different request is a 422.",
)
IDEMPOTENCY_RESPONSES = {
    422: OpenApiResponse(
        ErrorSerializer,
        description="This `Idempotency-Key` was used for a different request (code "
        "`idempotency_key_reused`).",
    ),
}


class _LostKey(Exception):
    """The reservation is no longer ours (taken over as stale): undo the work."""


@dataclass(frozen=True)
class _Reservation:
    pk: int
    token: datetime  # the row's ``created`` when we took it: the fencing token


def _error(code: int, detail: str, reason: str) -> Response:
    return Response({"detail": detail, "code": reason}, status=code)


def _in_progress() -> Response:
    return _error(
        status.HTTP_409_CONFLICT,
        "A request with this Idempotency-Key is still in progress: retry in a moment.",
        "idempotency_key_in_progress",
    )


def _plain(data: Any) -> Any:
    if isinstance(data, QueryDict):  # an empty or form-encoded body
        return {key: values for key, values in sorted(data.lists())}
    return data


def fingerprint(request: Request) -> str:
    """Method, path and body. The body is compared as parsed JSON with sorted keys, so a
    client that re-serialises the same request (another key order, other spacing) matches."""
    body = orjson.dumps(_plain(request.data), option=orjson.OPT_SORT_KEYS, default=str)
    head = f"{request.method} {request.get_full_path()}\n".encode()
    return hashlib.sha256(head + body).hexdigest()


def _reserve(*, user, tenant, key: str, fingerprint: str) -> _Reservation | Response:
    """Take the key, or answer for it: replay, 422 (another request) or 409 (in progress)."""
    for _ in range(3):  # each retry follows a row that vanished or expired under us
        now = timezone.now()
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    user=user, tenant=tenant, key=key, fingerprint=fingerprint
                )
            return _Reservation(row.pk, row.created)
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.filter(user=user, tenant=tenant, key=key).first()
        if row is None:  # released by a first request that failed, or expired: try again
            continue
        if row.created < now - KEY_TTL:
            IdempotencyKey.objects.filter(pk=row.pk, created=row.created).delete()
            continue
        if row.fingerprint != fingerprint:
            return _error(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                "This Idempotency-Key was already used for a different request. Use a new key "
                "for a new request.",
                "idempotency_key_reused",
            )
        if row.status_code is not None:
            return Response(row.response, status=row.status_code, headers={REPLAYED_HEADER: "true"})
        if row.created < now - IN_PROGRESS_TIMEOUT:
            if IdempotencyKey.objects.filter(pk=row.pk, created=row.created, status_code__isnull=True).update(
                created=now
            ):
                return _Reservation(row.pk, now)
            continue
        return _in_progress()
    return _in_progress()


def _storable(status_code: int) -> bool:
    """2xx, and 400 (the same invalid input stays invalid). Not 403/404/409 (they depend
    on state that may change), never 5xx."""
    return 200 <= status_code < 300 or status_code == status.HTTP_400_BAD_REQUEST


def _store(reservation: _Reservation, response: Response) -> bool:
    body = orjson.loads(ORJSONRenderer().render(response.data)) if response.data is not None else None
    return bool(
        IdempotencyKey.objects.filter(
            pk=reservation.pk, created=reservation.token, status_code__isnull=True
        ).update(status_code=response.status_code, response=body)
    )


def _release(reservation: _Reservation) -> None:
    IdempotencyKey.objects.filter(
        pk=reservation.pk, created=reservation.token, status_code__isnull=True
    ).delete()


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate an APIView handler (``post``, ``delete``) of a tenant view: see the module
    docstring. Without the header the handler runs as usual."""

    @wraps(handler)
    def wrapper(view, request: Request, *args, **kwargs) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            return _error(
                status.HTTP_400_BAD_REQUEST,
                f"Send an {HEADER} of 1 to {MAX_KEY_LENGTH} characters.",
                "invalid_idempotency_key",
            )
        outcome = _reserve(user=request.user, tenant=view.tenant, key=key, fingerprint=fingerprint(request))
        if isinstance(outcome, Response):
            return outcome
        stored = False
        try:
            try:
                with transaction.atomic():
                    response = handler(view, request, *args, **kwargs)
                    if _storable(response.status_code):
                        if not _store(outcome, response):
                            raise _LostKey
                        stored = True
            except _LostKey:
                return _in_progress()
            except Exception as exc:  # noqa: BLE001 (DRF's handler decides; it re-raises the rest)
                # The work rolled back; turn the error into its response here, to keep a 400.
                response = view.handle_exception(exc)
                if _storable(response.status_code):
                    stored = _store(outcome, response)
            return response
        finally:
            if not stored:
                _release(outcome)

    return wrapper


def idempotency_keys_expire(*, now: datetime | None = None) -> int:
    """Delete keys older than ``KEY_TTL`` (beat). Returns how many went."""
    cutoff = (now or timezone.now()) - KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created__lt=cutoff).delete()
    return deleted
