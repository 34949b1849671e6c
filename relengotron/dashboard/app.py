"""The dashboard's web app: the FastAPI app the plugin (``plugins/relengotron_dashboard.py``) hands the Airflow
api-server, which mounts it under ``links.URL_PREFIX``. HTML pages and the same data as JSON:

- ``GET <prefix>/`` — the overview (latest pushes per release, the Rawhide gate, community testing);
- ``GET <prefix>/excuses?item=<update alias | build NVR | artifact label>`` — every check's verdict about it;
- ``GET <prefix>/autosign`` — the builds waiting for a signature, and what the latest ``autosign`` runs signed,
  refused (and why) or failed on;
- ``GET <prefix>/listener`` — the listener's health: bus connection, inbox, dead letters with their reasons,
  last message per publisher, counters (asked over HTTP at the ``listener_default`` connection's address; a
  listener that does not answer is shown as unreachable with the error — the page itself still answers 200);
- ``GET <prefix>/api/pushes[?release=<id>]``, ``<prefix>/api/gate``, ``<prefix>/api/testing``,
  ``<prefix>/api/excuses?item=...``, ``<prefix>/api/autosign``, ``<prefix>/api/listener`` — the same view
  models as JSON (links relative to ``links_base``).

Airflow does not authenticate a plugin's app: every route does, with Airflow's own security dependencies
(:mod:`airflow.api_fastapi.core_api.security`): the user comes from the ``Authorization: Bearer`` JWT or the
UI's ``_token`` cookie, and the auth manager must let them read the DAGs whose runs the route shows (the
listener's health: the cluster activity view, as for Airflow's own components). Without a user: 401 for the
JSON, a redirect to Airflow's login page for the HTML. Routes are sync (``def``): FastAPI runs
them in its thread pool, where the ORM's blocking reads belong.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import requires_access_dag, requires_access_view
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from relengotron.dashboard import gate, probes, pushes, records, render, render_ops, signing
from relengotron.dashboard.facts import RunFacts, utc_text
from relengotron.dashboard.views import Views

RUNS_READ = 20  # newest runs of each DAG the pages read

PUSH_ACCESS = Depends(requires_access_dag("GET", param_dag_id=pushes.DAG_ID))
GATE_ACCESS = Depends(requires_access_dag("GET", param_dag_id=gate.DAG_ID))
AUTOSIGN_ACCESS = Depends(requires_access_dag("GET", param_dag_id=signing.DAG_ID))
LISTENER_ACCESS = Depends(requires_access_view(AccessView.CLUSTER_ACTIVITY))


def _views() -> Views:
    """One request's views: each DAG's runs read once per request (the overview shows the pushes twice: their
    own section and the testing candidates; the excuses read the gate's too)."""

    @functools.cache
    def reader(dag_id: str) -> tuple[RunFacts, ...]:
        return tuple(records.latest_runs(dag_id, RUNS_READ))

    return Views(reader, records.resultsdb_api(), probe=probes.read_listener)


def _now() -> str:
    return str(utc_text(datetime.now(UTC)))


def links_base(request: Request) -> str:
    """The absolute URL of the mount point, against which every link of the JSON resolves (whether the request's
    base URL includes the mount's root path depends on the Starlette version: added only when it does not)."""
    base = str(request.base_url).rstrip("/")
    root = str(request.scope.get("root_path") or "").rstrip("/")
    return (base if base.endswith(root) else base + root) + "/"


def _json(request: Request, data: Any) -> JSONResponse:
    return JSONResponse({"links_base": links_base(request), "generated": _now(), **data})


def create_app() -> FastAPI:
    """The app (one per api-server process). Idempotent: every request only reads."""
    app = FastAPI(title="releng-o-tron release dashboard", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(HTTPException)
    async def login_first(request: Request, exc: HTTPException) -> Response:
        """A browser without a session goes to Airflow's login page and comes back; an API client gets 401."""
        html = "text/html" in request.headers.get("accept", "") and "/api/" not in request.url.path
        if exc.status_code == 401 and html:
            from airflow.api_fastapi.app import get_auth_manager

            login = get_auth_manager().get_url_login(next_url=str(request.url))
            return RedirectResponse(login, status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/", response_class=HTMLResponse, dependencies=[PUSH_ACCESS, GATE_ACCESS])
    def overview() -> str:
        views = _views()
        return render.overview(views.pushes_by_release(), views.gate(), views.testing(), _now())

    @app.get("/excuses", response_class=HTMLResponse, dependencies=[PUSH_ACCESS, GATE_ACCESS])
    def excuses_page(item: str) -> str:
        return render.excuses(item, _views().excuses(item), _now())

    @app.get("/api/pushes", dependencies=[PUSH_ACCESS])
    def push_list(request: Request, release: str | None = None) -> JSONResponse:
        return _json(request, {"releases": _views().pushes_by_release(release)})

    @app.get("/api/gate", dependencies=[GATE_ACCESS])
    def gate_view(request: Request) -> JSONResponse:
        return _json(request, _views().gate())

    @app.get("/api/testing", dependencies=[PUSH_ACCESS])
    def testing(request: Request) -> JSONResponse:
        return _json(request, {"candidates": _views().testing()})

    @app.get("/api/excuses", dependencies=[PUSH_ACCESS, GATE_ACCESS])
    def excuses(request: Request, item: str) -> JSONResponse:
        return _json(request, {"item": item, "entries": _views().excuses(item)})

    @app.get("/autosign", response_class=HTMLResponse, dependencies=[AUTOSIGN_ACCESS])
    def autosign_page() -> str:
        return render_ops.autosign(_views().autosign(), _now())

    @app.get("/api/autosign", dependencies=[AUTOSIGN_ACCESS])
    def autosign(request: Request) -> JSONResponse:
        return _json(request, _views().autosign())

    @app.get("/listener", response_class=HTMLResponse, dependencies=[LISTENER_ACCESS])
    def listener_page() -> str:
        return render_ops.listener(_views().listener(), _now())

    @app.get("/api/listener", dependencies=[LISTENER_ACCESS])
    def listener(request: Request) -> JSONResponse:
        return _json(request, _views().listener())

    return app
