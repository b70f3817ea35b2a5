"""The web dashboard: see and steer corral's queues from a browser.

```python
from corral.dashboard import create_app

app = create_app("redis://localhost:6379/0")      # an ASGI app
# uvicorn module:app, or mount it: fastapi_app.mount("/corral", app)
```

``corral dashboard`` serves the same app. It is a Starlette application (the
``dashboard`` extra: ``pip install 'corral[dashboard]'``): a JSON API under
``/api/`` and static files shipped in the package (no build step), plus
Prometheus' ``/metrics``. Its state (the store connection, the settings) lives on
``app.state.corral``, never in globals, so one process can serve several.

Safe by default: with ``read_only`` no action is offered or accepted; actions are
POSTs that need the page's anti-forgery token and a same-origin request; with
``auth`` (``"user:password"``, HTTP Basic) or ``token`` (``Authorization: Bearer``)
every request needs the credentials.
"""

from corral.dashboard.app import create_app

__all__ = ["create_app"]
