"""The autosign DAG's shape: mapped per build and named by NVR, announcements and the summary after every build
(refused ones too), one run at a time, and a trigger conf of exactly ``{"release", "builds"}`` checked by Params."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from relengotron.autosign import MAX_BUILDS

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dag() -> Any:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS), safe_mode=False)
    assert bag.import_errors == {}
    return bag.dags["autosign"]


def test_builds_are_mapped_by_nvr_and_announced_and_counted_after_every_build(dag: Any) -> None:
    assert set(dag.task_dict) == {"list_builds", "sign_build", "announce", "publish", "summarize"}
    sign = dag.task_dict["sign_build"]
    assert sign.partial_kwargs["map_index_template"] == "{{ task.nvr }}"
    assert dag.task_dict["publish"].partial_kwargs["map_index_template"] == "{{ task.body['nvr'] }}"
    assert {t.task_id for t in sign.downstream_list} == {"announce", "summarize"}
    assert dag.task_dict["announce"].trigger_rule == "all_done"  # builds signed are announced despite a refusal
    assert dag.task_dict["summarize"].trigger_rule == "all_done"
    assert dag.max_active_runs == 1
    assert "rerun" in dag.doc_md.lower() and "map index" in dag.doc_md


def test_the_conf_is_a_release_and_optional_builds(dag: Any) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    def validate(conf: dict[str, Any]) -> dict[str, Any]:
        params = copy.deepcopy(dag.params)
        params.update(conf)
        return params.validate()

    assert validate({"release": "f24"}) == {"release": "f24", "builds": []}
    nvrs = ["bash-4.3.42-6.fc24", "openssh-7.2p2-10.fc24"]
    assert validate({"release": "f24", "builds": nvrs}) == {"release": "f24", "builds": nvrs}
    too_many = [f"p{i}-1-1.fc24" for i in range(MAX_BUILDS + 1)]
    for bad, field in (
        ({}, "release"),
        ({"release": "../etc"}, "release"),
        ({"release": "f24", "builds": ["bash"]}, "builds"),
        ({"release": "f24", "builds": "bash-4.3.42-6.fc24"}, "builds"),
        ({"release": "f24", "builds": [nvrs[0], nvrs[0]]}, "builds"),
        ({"release": "f24", "builds": too_many}, "builds"),
    ):
        with pytest.raises(ParamValidationError, match=field):
            validate(bad)
