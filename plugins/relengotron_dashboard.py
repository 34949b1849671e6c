"""The "Release engineering" view of the Airflow UI (issue 17): releng-o-tron's dashboard as an Airflow 3
plugin. Thin: the app and everything it shows are :mod:`relengotron.dashboard`'s.

- ``fastapi_apps``: the dashboard's FastAPI app, mounted by the api-server under ``/releng`` (the app
  authenticates every route itself with Airflow's security dependencies: Airflow does not);
- ``external_views``: its entry in the UI's navigation, shown inside the UI (``url_route``) from the relative
  ``href`` — resolved against the UI's base URL, so it works when Airflow is served under a path too.

Airflow's plugin manager imports this file from ``[core] plugins_folder`` (this repository's ``plugins/``).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from relengotron.dashboard.app import create_app
from relengotron.dashboard.links import NAV_ROUTE, URL_PREFIX


class RelengDashboardPlugin(AirflowPlugin):
    name = "relengotron_dashboard"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Release engineering"}]
    external_views = [
        {
            "name": "Release engineering",
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "url_route": NAV_ROUTE,
            "destination": "nav",
            "category": "browse",
        }
    ]
