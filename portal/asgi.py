"""ASGI entry point: HTTP through Django's WSGI handler on a pool of threads, WebSockets
through Channels.

Why not Django's ASGI handler for HTTP: every view here is synchronous, and that handler
runs a synchronous request in pieces. It moves to a thread for the synchronous middleware
(WhiteNoise, ours), back to the event loop for the async-capable ones after them, and to a
thread again for the view, creating a thread per request for the purpose. The WSGI
handler runs the whole request on one pool thread and streams ``StreamingHttpResponse``
bodies (the ASGI handler reads a synchronous iterator into memory first). Measured on a
2-VM deploy API call: about 0.8 ms less CPU in sequence and 5-10 % more deploys a second
under load (``benchmarks.provisioning``). WebSockets stay asynchronous.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from a2wsgi import WSGIMiddleware
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings
from django.core.wsgi import get_wsgi_application

# Sets Django up before the consumers' modules (models) are imported.
django_wsgi_app = get_wsgi_application()

from portal.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": WSGIMiddleware(django_wsgi_app, workers=settings.WEB_THREADS),
        # Origin must match ALLOWED_HOSTS: a page on another site cannot ride the session.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
