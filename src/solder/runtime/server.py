"""``solder serve``: the API (and, embedded, the workers) in one process under uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from solder import logs
from solder.api.app import create_app
from solder.config import Settings
from solder.runtime import services as services_mod

log = logging.getLogger("solder")


def serve(settings: Settings, host: str, port: int, *, workers: bool = True) -> None:
    logs.setup(json_output=settings.log_json)
    services = services_mod.build(settings, public_url=f"http://{host}:{port}")
    if settings.broker_url is not None:
        from solder.runtime.distributed import attach

        attach(services)
        workers = False  # runs go to the broker; solder worker processes execute them
    app = create_app(services, workers=workers)
    log.info(
        "solder listening on http://%s:%d (store: %s)", host, port, services.engine.url.drivername
    )
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    finally:
        services.close()
