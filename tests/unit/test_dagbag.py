"""DAG integrity: every file in dags/ imports (safe mode off, so a broken file cannot slip past), the DAGs found are
exactly those the files declare, and parsing builds no client and opens no connection.

Also the plugin layout: Airflow's plugin loader imports every ``plugins/**/*.py`` under its bare file name
(``sys.modules[stem]``), so a plugin file named like an installed module (``koji.py``, ``fedmsg.py``) would
replace that library for the rest of the process.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import os
import socket
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
PLUGINS = REPO / "plugins"


def declared_dag_ids() -> dict[str, Path]:
    """DAG id → file, read from the source of dags/*.py: ``DAG("id")`` / ``DAG(dag_id="id")`` calls and
    ``@dag``-decorated functions (their ``dag_id``, else the function's name). No import."""
    found: dict[str, Path] = {}

    def name_of(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            return node.attr
        return None

    def dag_id(call: ast.Call) -> str | None:
        for keyword in call.keywords:
            if keyword.arg == "dag_id" and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
        if call.args and isinstance(call.args[0], ast.Constant):
            return str(call.args[0].value)
        return None

    for path in sorted(DAGS.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and name_of(node.func) == "DAG":
                ident = dag_id(node)
                assert ident, f"{path.name}:{node.lineno}: DAG(...) without a literal dag_id"
                found[ident] = path
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for decorator in node.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if name_of(target) == "dag":
                        ident = dag_id(decorator) if isinstance(decorator, ast.Call) else None
                        found[ident or node.name] = path
    return found


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No connection, no variable, no socket, no client: each attempt is recorded and refused."""
    attempts: list[str] = []
    for name in list(os.environ):
        if name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")):
            monkeypatch.delenv(name)

    def refuse(what: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            attempts.append(what)
            raise AssertionError(f"parsing a DAG file must not {what}")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("open a connection"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("open a connection"))
    monkeypatch.setattr(socket, "create_connection", refuse("open a connection"))

    import bugzilla
    import fedmsg.core
    import koji
    import paramiko
    import pdc_client
    import resultsdb_api

    for cls, what in (
        (koji.ClientSession, "build a Koji session"),
        (resultsdb_api.ResultsDBapi, "build a ResultsDB client"),
        (pdc_client.PDCClient, "build a PDC client"),
        (bugzilla.Bugzilla, "build a Bugzilla client"),
        (fedmsg.core.FedMsgContext, "build a fedmsg context"),
        (paramiko.SSHClient, "build an SSH client"),
    ):
        monkeypatch.setattr(cls, "__init__", refuse(what))
    return attempts


def test_every_dag_file_imports_and_declares_exactly_the_dags_found(no_network: list[str]) -> None:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS), safe_mode=False)
    assert bag.import_errors == {}
    declared = declared_dag_ids()
    assert set(bag.dag_ids) == set(declared)
    for dag_id, path in declared.items():
        assert Path(bag.dags[dag_id].fileloc).resolve() == path.resolve()
    assert set(bag.dag_ids) == {
        "updates_push",
        "masher_start",
        "rawhide_gating",
        "eol",
        "ostree_maintenance",
        "autosign",
    }
    assert no_network == []  # nothing was even attempted (an attempt inside a try: would not fail the import)
    # every DAG retries transient failures with the one backoff policy (permanent ones fail at once)
    from relengotron.airflow.dag_defaults import retry_defaults

    for dag_id, dag in bag.dags.items():
        assert dag.default_args == retry_defaults(), dag_id
        assert dag.doc_md and "rerun" in dag.doc_md.lower(), f"{dag_id}: doc_md must say how on-call reruns"


def test_safe_mode_off_catches_a_broken_file_without_the_magic_words(tmp_path: Path) -> None:
    """The reason the test above turns safe mode off: this file lacks the words "airflow" and "dag"."""
    from airflow.models import DagBag

    (tmp_path / "broken.py").write_text("import no_such_module_anywhere\n")
    assert DagBag(dag_folder=str(tmp_path), safe_mode=True).import_errors == {}
    assert "broken.py" in str(DagBag(dag_folder=str(tmp_path), safe_mode=False).import_errors)


def test_every_dag_says_what_it_does_and_how_to_rerun() -> None:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS), safe_mode=False)
    for dag_id, dag in bag.dags.items():
        assert dag.doc_md and "rerun" in dag.doc_md.lower(), f"{dag_id}: doc_md must say how to rerun"


def test_no_plugin_file_shadows_an_installed_module() -> None:
    shadowing = []
    for path in sorted(PLUGINS.rglob("*.py")):
        if path.stem == "__init__":
            continue
        spec = importlib.util.find_spec(path.stem)
        if spec is not None and spec.origin and Path(spec.origin).resolve() != path.resolve():
            shadowing.append(f"{path.relative_to(REPO)} would replace {spec.origin}")
    assert shadowing == []
    assert not (PLUGINS / "__init__.py").exists()  # plugins/ is a folder on sys.path, not a package


def test_rawhide_gating_maps_per_build_and_validates_its_conf() -> None:
    from airflow.models import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    dag = DagBag(dag_folder=str(DAGS), safe_mode=False).dags["rawhide_gating"]
    assert set(dag.task_dict) == {"list_builds", "gate.wait_for_checks", "gate.decide", "gate.publish"}
    sensor = dag.task_dict["gate.wait_for_checks"]
    assert sensor.map_index_template == "{{ task.subjects['item'] }}"
    assert sensor.fail_on_failed is False
    assert dag.task_dict["gate.decide"].trigger_rule == "all_done"  # decides even when its wait gave up
    # each build is gated on its own (a map index of the gate group), and runs never queue behind one that waits
    assert type(dag.task_group_dict["gate"]).__name__ == "MappedTaskGroup"
    assert "gate.wait_for_checks" in dag.task_dict["gate.decide"].upstream_task_ids
    assert dag.max_active_runs > 1

    def validate(conf: dict[str, Any]) -> dict[str, Any]:
        params = copy.deepcopy(dag.params)
        params.update(conf)
        return params.validate()

    assert validate({}) == {
        "release": "rawhide",
        "builds": [],
        "include_quarantined": True,
        "checks_timeout": 7200,
        "checks_poll_interval": 60,
    }
    assert validate({"builds": ["etcd-3.0.15-1.fc26"]})["builds"] == ["etcd-3.0.15-1.fc26"]
    for bad, field in (
        ({"builds": ["etcd"]}, "builds"),
        ({"builds": "etcd-3.0.15-1.fc26"}, "builds"),
        ({"include_quarantined": "yes"}, "include_quarantined"),
        ({"checks_timeout": 0}, "checks_timeout"),
        ({"release": "../etc"}, "release"),
    ):
        with pytest.raises(ParamValidationError, match=field):
            validate(bad)


# The README's rule (Layout): every step that talks to a service, reads or writes a tree, or decides is an
# operator or a sensor of plugins/; ``@task`` is only glue that reshapes one task's XCom into another's input.
GLUE_MAY_IMPORT = ("relengotron.push", "relengotron.autosign", "relengotron.airflow.arguments", "typing")


def test_every_dag_declares_its_steps_with_operators_and_task_is_only_glue() -> None:
    offences = []
    for path in sorted(DAGS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.FunctionDef):
                continue
            decorators = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
            if not any(isinstance(d, ast.Name) and d.id == "task" for d in decorators):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module not in GLUE_MAY_IMPORT:
                    offences.append(f"{path.name}:{inner.lineno} @task {node.name} imports {inner.module}")
                elif isinstance(inner, ast.Import):
                    offences.append(f"{path.name}:{inner.lineno} @task {node.name} imports a module")
    assert offences == []
