"""The embedded Airflow's two deployments: SQLite with the LocalExecutor, and docker-compose.yaml's CeleryExecutor
one (PostgreSQL, Redis, two named workers) — what each supervises, under which names, with which settings, and
that everything listens on 127.0.0.1 only."""

from __future__ import annotations

import importlib
import signal
from pathlib import Path

import pytest
from test_demo_parts import ENDPOINTS  # the sandbox endpoints the demo tests use

from relengotron_sandbox.demo import airflow_celery, airflow_embed
from relengotron_sandbox.demo.airflow_celery import Deployment
from relengotron_sandbox.demo.airflow_embed import ADMIN, LISTENER_USER, airflow_env
from relengotron_sandbox.demo.airflow_local import components

DEPLOYMENT = Deployment(postgres_port=5433, redis_port=6380, fernet_key="fernet", secret_key="secret")
AIRFLOW = ("api-server", "scheduler", "dag-processor", "triggerer")


def env_of(home: Path, celery: Deployment | None) -> dict[str, str]:
    return airflow_env(
        home, Path("/repo"), 8793, ENDPOINTS, base={"PATH": "/usr/bin"}, jwt_secret="jwt", venv_bin=Path("/v"),
        celery=celery,
    )  # fmt: skip


def test_the_local_executor_runs_the_four_airflow_components_on_sqlite(tmp_path: Path) -> None:
    env = env_of(tmp_path, None)
    made = components(env, "/v/airflow", tmp_path, "/usr/lib/postgresql/15/bin/postgres", "postgres")
    assert [c.name for c in made] == [f"airflow {name}" for name in AIRFLOW]
    assert [c.argv[:2] for c in made] == [("/v/airflow", name) for name in AIRFLOW]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path.absolute() / 'airflow.db'}"


def test_the_celery_executor_adds_postgres_and_redis_before_and_two_named_workers_after(tmp_path: Path) -> None:
    env = env_of(tmp_path, DEPLOYMENT)
    made = {c.name: c for c in components(env, "/v/airflow", tmp_path, "/pg/bin/postgres", "postgres")}
    assert list(made) == [
        "postgres",
        "redis",
        *(f"airflow {name}" for name in AIRFLOW),
        "airflow celery-worker-1",
        "airflow celery-worker-2",
    ]
    # PostgreSQL: as the postgres user, on 127.0.0.1 only (no Unix socket), its data kept in AIRFLOW_HOME;
    # stopped with its fast shutdown
    postgres = made["postgres"]
    assert postgres.user == "postgres" and postgres.stop_signal == signal.SIGINT
    argv = list(postgres.argv)
    assert argv[:5] == ["/pg/bin/postgres", "-D", str(tmp_path / "postgres" / "data"), "-p", "5433"]
    assert {"listen_addresses=127.0.0.1", "unix_socket_directories="} <= set(argv[5:])
    assert postgres.env is not None and "AIRFLOW__CORE__FERNET_KEY" not in postgres.env  # no Airflow secrets
    # Redis: on 127.0.0.1, its defaults otherwise (RDB snapshots: no --save, no --appendonly), data in AIRFLOW_HOME
    redis = list(made["redis"].argv)
    assert redis[redis.index("--bind") + 1] == "127.0.0.1" and redis[redis.index("--port") + 1] == "6380"
    assert redis[redis.index("--dir") + 1] == str(tmp_path / "redis")
    assert "--save" not in redis and "--appendonly" not in redis
    # no log server: they would bind to every interface
    for name in ("scheduler", "triggerer", "celery-worker-1", "celery-worker-2"):
        assert "--skip-serve-logs" in made[f"airflow {name}"].argv, name
    # each worker tells its own name as the task instances' hostname (hostname_callable)
    for name in airflow_celery.WORKERS:
        worker = made[f"airflow {name}"]
        assert worker.argv[1:3] == ("celery", "worker") and f"{name}@%h" in worker.argv
        assert worker.env is not None and worker.env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        module, _, function = worker.env["AIRFLOW__CORE__HOSTNAME_CALLABLE"].rpartition(".")
        callable_ = getattr(importlib.import_module(module), function)
        with pytest.MonkeyPatch.context() as patch:
            for variable, value in worker.env.items():
                patch.setenv(variable, value)
            assert callable_() == name
    # the Airflow components share the supervisor's environment (the one below)
    assert all(made[f"airflow {name}"].env is None for name in AIRFLOW)


def test_the_celery_environment_is_docker_composes_with_the_demos_users(tmp_path: Path) -> None:
    local, celery = env_of(tmp_path, None), env_of(tmp_path, DEPLOYMENT)
    database = "postgresql+psycopg2://airflow@127.0.0.1:5433/airflow"
    assert celery["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert celery["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == database
    assert celery["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+{database}"
    assert celery["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6380/0"
    assert celery["AIRFLOW__CORE__FERNET_KEY"] == "fernet" and celery["AIRFLOW__API__SECRET_KEY"] == "secret"
    # SQLite's lock timeout is no connect argument of psycopg2's
    assert not {k for k in celery if k.startswith("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS")}
    # the rest is the LocalExecutor demo's: the same users, API server on 127.0.0.1, JWT secret, connections
    same = set(local) - {k for k in local if k.startswith("AIRFLOW__DATABASE__")} - {"AIRFLOW__CORE__EXECUTOR"}
    assert {k: celery[k] for k in same} == {k: local[k] for k in same}
    assert celery["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == f"{ADMIN}:admin,{LISTENER_USER}:user"
    assert celery["AIRFLOW__API__HOST"] == "127.0.0.1"


def test_a_new_deployment_has_its_own_ports_and_a_usable_fernet_key() -> None:
    from cryptography.fernet import Fernet

    ports = iter((40001, 40002))
    made = Deployment.new(lambda: next(ports))
    assert (made.postgres_port, made.redis_port) == (40001, 40002)
    key = Fernet(made.fernet_key.encode())
    assert key.decrypt(key.encrypt(b"x")) == b"x"
    assert made.secret_key != Deployment.new(lambda: 1).secret_key


def test_the_workers_are_ready_once_celery_says_so_for_each() -> None:
    log = (
        "2026-12-07T13:27:03.586727Z [info     ] celery-worker-1@vm ready.      [celery.apps.worker]\n"
        "2026-12-07T13:27:03.6Z [info     ] Connected to redis://127.0.0.1:6380/0 celery-worker-2@vm\n"
    )
    assert airflow_celery.workers_ready(log) == {"celery-worker-1"}
    assert airflow_celery.workers_ready(log + log.replace("-1@", "-2@")) == set(airflow_celery.WORKERS)


def test_a_url_without_a_port_is_named(tmp_path: Path) -> None:
    env = {**env_of(tmp_path, DEPLOYMENT), "AIRFLOW__CELERY__BROKER_URL": "redis://localhost/0"}
    with pytest.raises(airflow_celery.CeleryDeploymentError, match="'redis://localhost/0' names no port"):
        airflow_celery.infrastructure(env, tmp_path, "postgres", None)


def test_an_unknown_executor_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown executor 'kubernetes': one of local, celery"):
        airflow_embed.start(tmp_path / "home", Path("/repo"), ENDPOINTS, tmp_path / "log", executor="kubernetes")
    assert not (tmp_path / "home").exists()
