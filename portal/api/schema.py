"""OpenAPI generation tweaks shared by every API view."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(
        required=False, help_text="A stable reason for programs, e.g. `cannot_cancel`."
    )


class QuotaExceededSerializer(ErrorSerializer):
    exceeded = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        required=False,
        help_text="With code `quota_exceeded`: `{dimension: {used, limit, requested}}` for every exceeded one.",
    )


_BAD_INPUT = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Invalid input: `{field: [messages]}`, and `non_field_errors` for the rest. Nothing was written.",
)
_ERRORS = {
    "401": OpenApiResponse(
        ErrorSerializer, description="No credentials, or an unknown, expired or revoked token."
    ),
    "403": OpenApiResponse(ErrorSerializer, description="Your role (or the token's) does not allow this."),
    "404": OpenApiResponse(ErrorSerializer, description="No such object in your tenant."),
    "409": OpenApiResponse(
        QuotaExceededSerializer,
        description="The object is in the wrong state for this, or quota is exceeded.",
    ),
}


class PortalAutoSchema(AutoSchema):
    """The project's schema conventions:

    - Nested serializers are named after the view that holds them. HackSoft-style views each
      nest an ``InputSerializer`` / ``OutputSerializer``; by class name alone they would all
      become the component "Input" and collide. ``SubscriptionCancelApi.InputSerializer``
      becomes ``SubscriptionCancelInput``, ``MeApi.OutputSerializer.UserSerializer``
      ``MeOutputUser``.
    - Admin-only endpoints (``IsServiceAdmin``) list only session authentication: a token is
      always a tenant credential and gets 403 there.
    - Error responses are documented once, here, with the shapes ``portal.api.exceptions``
      produces.
    """

    def get_serializer_name(self, serializer, direction) -> str:
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        parts = []
        for part in qualname.split("."):
            for suffix in ("Api", "View", "Serializer"):
                part = part.removesuffix(suffix)
            parts.append(part)
        return "".join(parts)

    def _is_admin_only(self) -> bool:
        from portal.api.base import IsServiceAdmin

        return any(isinstance(p, IsServiceAdmin) for p in self.view.get_permissions())

    def get_auth(self):
        auths = super().get_auth()
        if self._is_admin_only():
            auths = [a for a in auths if "bearerAuth" not in a]
        return auths

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        module = self.view.__module__  # <app>/api/views.py, or a split-off <app>/api/<topic>_views.py
        if ".api." not in module or not module.endswith("views"):
            return responses  # third-party views (the schema and docs views) stay as they are
        errors = dict(_ERRORS)
        if "{" not in self.path:
            errors.pop("404")
        if self.method in ("GET", "HEAD"):
            errors.pop("409")
        elif self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            errors["400"] = _BAD_INPUT
        for code, response in sorted(errors.items()):
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses
