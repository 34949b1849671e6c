"""Links from the dashboard into the Airflow UI and to ResultsDB. Pure.

Every link to the Airflow UI is relative to the dashboard's own mount point (``<base>/releng/``, the plugin's
``url_prefix``), so that it works wherever Airflow is served (``[api] base_url`` with a path included): the
dashboard's pages live one level below the UI's root — ``up`` says how many levels a page is below the mount
point. The UI's routes are those of Airflow 3's React router (``airflow/ui``): a task instance is
``dags/<dag>/runs/<run>/tasks/<task>[/mapped/<index>]`` — its log is that page's default tab — and its details
are the ``details`` tab.
"""

from __future__ import annotations

from urllib.parse import quote

from relengotron.dashboard.facts import UNMAPPED

URL_PREFIX = "/releng"  # where the api-server mounts the dashboard's app (the plugin's fastapi_apps url_prefix)
NAV_ROUTE = "release-engineering"  # the UI's route of the plugin's navigation entry: <UI base>/plugin/<route>


def addresses(ui_base: str) -> dict[str, str]:
    """Where a user finds the dashboard, given the Airflow UI's base URL: the dashboard itself and the UI's page
    of its navigation entry ("Release engineering" in Browse), which shows it inside the UI."""
    base = ui_base.rstrip("/")
    return {"dashboard": f"{base}{URL_PREFIX}/", "nav": f"{base}/plugin/{NAV_ROUTE}"}


def _q(value: str) -> str:
    return quote(value, safe="")


def ui_root(up: int = 0) -> str:
    """From a page ``up`` levels below the mount point to the UI's root (ends with a slash)."""
    return "../" * (up + 1)


def run_link(dag_id: str, run_id: str, *, up: int = 0) -> str:
    return f"{ui_root(up)}dags/{_q(dag_id)}/runs/{_q(run_id)}"


def task_log_link(dag_id: str, run_id: str, task_id: str, map_index: int = UNMAPPED, *, up: int = 0) -> str:
    """The task instance's page in the UI, which opens on its log."""
    mapped = f"/mapped/{map_index}" if map_index != UNMAPPED else ""
    return f"{run_link(dag_id, run_id, up=up)}/tasks/{_q(task_id)}{mapped}"


def task_details_link(dag_id: str, run_id: str, task_id: str, map_index: int = UNMAPPED, *, up: int = 0) -> str:
    return f"{task_log_link(dag_id, run_id, task_id, map_index, up=up)}/details"


def task_links(dag_id: str, run_id: str, task_id: str, map_index: int = UNMAPPED) -> dict[str, str]:
    """The ``task`` (details) and ``log`` links of one task instance, relative to the mount point."""
    return {
        "task": task_details_link(dag_id, run_id, task_id, map_index),
        "log": task_log_link(dag_id, run_id, task_id, map_index),
        "task_id": task_id,
        "map_index": str(map_index),
    }


def result_link(resultsdb_api: str | None, result_id: int | None) -> str | None:
    """A ResultsDB result (API v2.0: ``<api>/results/<id>``), or None when either is unknown."""
    if not resultsdb_api or result_id is None:
        return None
    return f"{resultsdb_api.rstrip('/')}/results/{int(result_id)}"
