"""Errors that services raise and both the UI and the API translate to a clear response.

- ``django.core.exceptions.ValidationError`` → form errors / HTTP 400 with field errors.
- ``Conflict`` → the object is in the wrong state for this action / HTTP 409.
- ``subscriptions.quota.QuotaExceeded`` → HTTP 409 with every exceeded dimension.
- ``django.core.exceptions.PermissionDenied`` → HTTP 403 (own tenant, role too low).
- ``django.http.Http404`` → another tenant's object, or nothing there.
"""

from __future__ import annotations


class Conflict(Exception):
    """The action does not fit the object's current state (e.g. suspending a cancelled
    subscription). ``code`` is a stable machine-readable reason for API clients."""

    def __init__(self, message: str, *, code: str = "conflict") -> None:
        self.message = message
        self.code = code
        super().__init__(message)
