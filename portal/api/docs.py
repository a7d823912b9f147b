"""The interactive API docs (Swagger UI from drf-spectacular-sidecar, served by the portal)."""

from __future__ import annotations

import base64
import hashlib
import re

from django.template.response import SimpleTemplateResponse
from drf_spectacular.views import SpectacularSwaggerSplitView

_STYLE_BLOCK = re.compile(rb"<style[^>]*>(.*?)</style>", re.DOTALL)


def _allow_inline_style_blocks(response: SimpleTemplateResponse) -> None:
    """Allow exactly the page's own ``<style>`` blocks by their SHA-256, for this response only.

    drf-spectacular's page carries one small inline ``<style>`` (box-sizing and background),
    which ``style-src 'self'`` blocks. Hashing what was actually rendered keeps the rest of the
    policy strict (no ``'unsafe-inline'``) and stays right if the template changes.
    """
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(block).digest()).decode() + "'"
        for block in _STYLE_BLOCK.findall(response.content)
    ]
    if hashes:
        response._csp_update = {"style-src": hashes}


class SwaggerDocsView(SpectacularSwaggerSplitView):
    """Swagger UI with its initialiser served as a script file (the split view), plus a CSP
    allowance for the template's inline style block. Everything else it loads (bundle, CSS,
    favicon) comes from /static/, so the page works offline under the strict policy."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, SimpleTemplateResponse):
            response.add_post_render_callback(_allow_inline_style_blocks)
        return response
