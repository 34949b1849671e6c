"""The production deployment, checked without Docker (which cannot run here): docker-compose.yaml parsed with
pyyaml — the official CeleryExecutor layout plus the listener, one JWT secret and one Fernet key reaching every
Airflow service, health checks and what waits on them, the listener's inbox on a volume, the Connections to
Fedora's services accepted by the project's own hooks, every variable documented — and the Dockerfile's
install steps against the files of this repository. ``docker compose config`` runs too where the compose
plugin exists.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / "deploy" / "env.example"
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
REQUIRED_SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "listener"}
LONG_RUNNING = REQUIRED_SERVICES - {"airflow-init"}
SHARED_SETTINGS = (
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__WORKERS__EXECUTION_API_RETRIES",
)
TOOLS = {"ostree", "rpm", "createrepo-c", "rsync", "gnupg", "openssh-client"}
# compose's interpolation: $$ (a literal $), ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err}
VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def interpolate(text: str, env: dict[str, str]) -> str:
    """``text`` as compose would pass it on with ``env`` (AssertionError where compose would refuse)."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise AssertionError(f"compose would refuse to start: {name}: {arg}")
        if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
            return arg
        return value or ""

    return VARIABLE.sub(one, text)


def variables(text: str) -> set[str]:
    return {m.group(1) for m in VARIABLE.finditer(text) if m.group(1)}


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def filled_env() -> dict[str, str]:
    """deploy/env.example with a value for each setting left empty there (a password, a key, a host)."""
    return {name: value or f"test-{name.lower()}" for name, value in env_example().items()}


def dockerfile_copies() -> list[tuple[str, str]]:
    """(source in the repository, destination in the image) of the Dockerfile's COPY lines from the context."""
    copies = []
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if not line.startswith("COPY "):
            continue
        words = shlex.split(line)
        if any(w.startswith("--from") for w in words):
            continue
        *sources, destination = [w for w in words[1:] if not w.startswith("--")]
        copies += [(source, destination) for source in sources]
    return copies


def repo_file_in_image(container_path: str) -> Path:
    """The repository file the image has at ``container_path`` (through a COPY of its directory)."""
    for source, destination in dockerfile_copies():
        if destination.endswith("/") and container_path.startswith(destination):
            candidate = REPO / source / container_path[len(destination) :]
            if candidate.exists():
                return candidate
    raise AssertionError(f"{container_path}: no COPY of the Dockerfile puts a repository file there")


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → source (a named volume or a host path) of the service's short-syntax volumes."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


# --- the services ------------------------------------------------------------------------------------------


def test_the_official_celery_layout_and_the_listener_are_all_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= REQUIRED_SERVICES, sorted(REQUIRED_SERVICES - set(services))
    commands = {name: command_words(services[name]) for name in LONG_RUNNING - {"postgres", "redis"}}
    assert commands["airflow-apiserver"] == ["airflow", "api-server"]
    assert commands["airflow-scheduler"] == ["airflow", "scheduler"]
    assert commands["airflow-dag-processor"] == ["airflow", "dag-processor"]
    assert commands["airflow-triggerer"] == ["airflow", "triggerer"]
    assert commands["airflow-worker"] == ["airflow", "celery", "worker"]
    assert commands["listener"][:3] == ["relengotron", "listener", "run"]
    assert "airflow db migrate" in command_words(services["airflow-init"])[-1]
    for name in AIRFLOW_SERVICES | {"listener"}:
        assert services[name]["build"] == "." and services[name]["image"] == services["airflow-worker"]["image"]


def test_one_jwt_secret_and_one_fernet_key_reach_every_airflow_service(services: dict[str, dict[str, Any]]) -> None:
    airflow = {
        name: s for name, s in services.items() if command_words(s)[:1] == ["airflow"] or name in AIRFLOW_SERVICES
    }
    assert set(airflow) >= AIRFLOW_SERVICES
    for setting in SHARED_SETTINGS:
        values = {name: service["environment"].get(setting) for name, service in airflow.items()}
        assert len(set(values.values())) == 1 and None not in values.values(), (setting, values)
    env = services["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for setting in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY"):
        [name] = variables(env[setting])
        assert re.fullmatch(r"\$\{" + name + r":\?[^}]+\}", env[setting]), (
            f"{setting}: compose must refuse to start without it"
        )
    # the workers reach the api-server's Execution API by its service name and container port
    url = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    [published] = services["airflow-apiserver"]["ports"]
    assert (url.hostname, url.port, url.path) == ("airflow-apiserver", int(published.rsplit(":", 1)[1]), "/execution/")
    # the metadata database, the result backend and the broker are the postgres and redis services
    filled = filled_env()
    assert urlsplit(interpolate(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], filled)).hostname == "postgres"
    assert urlsplit(interpolate(env["AIRFLOW__CELERY__RESULT_BACKEND"], filled)).hostname == "postgres"
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")  # not psycopg 3


def test_every_long_running_service_has_a_health_check_and_waits_on_what_it_needs(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
        assert check.get("interval") and check.get("retries"), name
    assert "healthcheck" not in services["airflow-init"]  # a job: the others wait for it to complete
    for name, service in services.items():
        for target, wait in service.get("depends_on", {}).items():
            assert target in services, (name, target)
            if wait["condition"] == "service_healthy":
                assert "healthcheck" in services[target], (name, target)
            elif wait["condition"] == "service_completed_successfully":
                assert target == "airflow-init", (name, target)
    for name in (LONG_RUNNING - {"postgres", "redis"}) | {"airflow-init"}:
        needs = services[name]["depends_on"]
        if name != "listener":
            assert needs["postgres"]["condition"] == needs["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert needs["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    assert services["listener"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"

    tests = {name: " ".join(services[name]["healthcheck"]["test"]) for name in LONG_RUNNING}
    assert "http://localhost:8080/api/v2/monitor/health" in tests["airflow-apiserver"]
    assert "http://localhost:8974/health" in tests["airflow-scheduler"]
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"  # else nothing answers on 8974
    assert "--job-type DagProcessorJob" in tests["airflow-dag-processor"]
    assert "--job-type TriggererJob" in tests["airflow-triggerer"]
    assert "inspect ping" in tests["airflow-worker"] and "celery@$${HOSTNAME}" in tests["airflow-worker"]


def test_the_listener_runs_its_config_and_keeps_its_inbox_on_a_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from relengotron.listener.config import load_config

    listener = services["listener"]
    words = command_words(listener)
    assert words[:4] == ["relengotron", "listener", "run", "--config"]
    # the broker's client certificate is a mounted secret of the container: there as the config is loaded
    handed = set(mounts(listener)) | {f"/run/secrets/{s}" for s in listener.get("secrets", [])}
    is_file = Path.is_file
    monkeypatch.setattr(Path, "is_file", lambda p: is_file(p) or any(str(p).startswith(h + "/") for h in handed))
    config = load_config(repo_file_in_image(words[4]))
    amqp = config.amqp
    assert config.transport == "amqp" and amqp is not None and amqp.url.startswith("amqps://")
    assert amqp.certfile is not None and amqp.keyfile is not None and amqp.ca_cert is not None  # EXTERNAL login
    config.load_rules()  # the rules the container reads, with the release configuration they use
    assert config.release_config is not None
    assert config.release_config.resolve() == repo_file_in_image("/opt/relengotron/config/fedora.yaml").resolve()
    # the inbox (and its runtime file) on a named volume, declared, and not shared with anything but the init job
    volumes = mounts(listener)
    [inbox_dir] = [t for t in volumes if PurePosixPath(str(config.inbox_path)).is_relative_to(t)]
    assert PurePosixPath(str(config.runtime_path)).is_relative_to(inbox_dir)
    volume = volumes[inbox_dir]
    assert volume in compose["volumes"]
    users = {name for name, s in services.items() if volume in mounts(s).values()}
    assert users == {"listener", "airflow-init"}
    # it triggers runs through the api-server as a user of it, with its password from a secret
    url = urlsplit(config.airflow.url)
    [published] = services["airflow-apiserver"]["ports"]
    assert (url.hostname, url.port) == ("airflow-apiserver", int(published.rsplit(":", 1)[1]))
    users_setting = services["airflow-apiserver"]["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    roles = dict(user.split(":") for user in users_setting.split(","))
    assert roles[config.airflow.username] in ("user", "op", "admin")
    secret = PurePosixPath(str(config.airflow.password_file))
    assert secret.parent == PurePosixPath("/run/secrets") and secret.name in listener["secrets"]
    assert secret.name in services["airflow-init"]["secrets"]  # which writes the api-server's password file
    # the health check asks the listener's own HTTP port
    assert f"http://localhost:{config.http_port}/healthz" in listener["healthcheck"]["test"]


def test_the_listener_commands_of_the_operations_guide_exist() -> None:
    from relengotron.cli import main

    listener = main.commands["listener"]
    assert {"run", "status", "retry-dead-letter", "replay"} <= set(listener.commands)


# --- connections to Fedora's services ----------------------------------------------------------------------


def test_the_connections_are_accepted_by_the_projects_hooks(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from relengotron.adapters.bugzilla import BugzillaConnection
    from relengotron.adapters.pdc import PDCConnection
    from relengotron.adapters.resultsdb import ResultsDBConnection
    from relengotron.airflow import hooks
    from relengotron.airflow.connections import Connections
    from relengotron.amqp import AmqpPublisher
    from relengotron.artifacts import load_release_config
    from relengotron.kojiclient import KojiConnection
    from relengotron.messaging import load_fedmsg_config

    worker = services["airflow-worker"]
    filled = filled_env()
    env = {name: interpolate(str(value), filled) for name, value in worker["environment"].items()}
    conns = {
        name[len("AIRFLOW_CONN_") :].lower(): value for name, value in env.items() if name.startswith("AIRFLOW_CONN_")
    }
    hook_classes = [c for c in vars(hooks).values() if isinstance(c, type) and issubclass(c, hooks.RelengHook)]
    hook_ids = {c.default_conn_name for c in hook_classes}
    used = {f.default for f in dataclasses.fields(Connections)}
    assert (hook_ids - {""}) | used <= set(conns), sorted((hook_ids | used) - set(conns))
    for name, value in env.items():
        if name.startswith("AIRFLOW_CONN_"):
            monkeypatch.setenv(name, value)

    koji = KojiConnection.from_mapping(hooks.KojiHook().fields)
    assert (koji.hub, koji.auth) == ("https://koji.fedoraproject.org/kojihub", "gssapi")
    assert PDCConnection.from_mapping(hooks.PDCHook().fields).server.endswith("/rest_api/v1/")
    assert ResultsDBConnection.from_mapping(hooks.ResultsDBHook().fields).url.endswith("/api/v2.0/")
    assert BugzillaConnection.from_mapping(hooks.BugzillaHook().fields).api_key == filled["BUGZILLA_API_KEY"]
    signing = hooks.SigningHook().settings
    config = load_release_config(repo_file_in_image(env["AIRFLOW_VAR_RELENGOTRON_CONFIG"]))
    keys = {release.signing_key for release in config.releases.values() if release.signing_key}
    assert signing.backend == "sigul" and keys <= set(signing.sigul_keys), (keys, signing.sigul_keys)
    bus = hooks.BusHook()
    assert bus.fields["transport"] == "amqp" and isinstance(bus.publisher, AmqpPublisher)  # Fedora's bus today
    amqp = tomllib.loads(repo_file_in_image(bus.fields["config"]).read_text())
    assert amqp["amqp_url"].startswith("amqps://") and amqp["topic_prefix"] == "org.fedoraproject.prod"
    fedmsg = load_fedmsg_config(repo_file_in_image("/opt/relengotron/deploy/fedmsg.py"))  # the fedmsg choice
    assert fedmsg["relay_inbound"] and fedmsg["topic_prefix"] == "org.fedoraproject"
    for conn_id in ("compose_ssh", "mirror_ssh"):
        conn = json.loads(conns[conn_id])
        assert conn["conn_type"] == "ssh" and conn["host"] and conn["extra"]["host_key"], conn_id

    # every file a connection names is in the image or handed to the workers as a secret or a mount
    handed = {f"/run/secrets/{s}" for s in worker.get("secrets", [])} | set(mounts(worker))
    named = [*re.findall(r'"(/[^"]+)"', " ".join(conns.values())), env["KRB5_CONFIG"]]
    for path in named:
        if path.startswith("/opt/relengotron/"):
            repo_file_in_image(path)
        else:
            assert any(path == h or path.startswith(h + "/") for h in handed), path
    assert fedmsg["ssldir"] in handed
    for key in ("ca_cert", "keyfile", "certfile"):  # the broker's TLS client certificate reaches the workers
        assert any(amqp["tls"][key].startswith(h + "/") for h in handed), amqp["tls"][key]
    assert worker["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith(
        next(t for t, s in mounts(services["airflow-apiserver"]).items() if s == "airflow-auth")
    )


def test_the_dashboard_asks_the_listener_where_it_listens(services: dict[str, dict[str, Any]]) -> None:
    """The api-server's listener_default (the dashboard's Listener page) is the listener service's HTTP port,
    the one its health check asks."""
    from airflow.models.connection import Connection

    from relengotron.dashboard.listener import base_url

    env = services["airflow-apiserver"]["environment"]
    found = Connection.from_json(env["AIRFLOW_CONN_LISTENER_DEFAULT"], conn_id="listener_default")
    http = yaml.safe_load((REPO / "deploy" / "listener.yaml").read_text())["http"]
    assert base_url(found.host, schema=found.schema, port=found.port) == f"http://listener:{http['port']}"
    assert f"http://localhost:{http['port']}/healthz" in services["listener"]["healthcheck"]["test"]


# --- volumes, secrets, variables ---------------------------------------------------------------------------


def test_named_volumes_and_secrets_are_declared_and_host_paths_are_secrets(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    for name, service in services.items():
        for target, source in mounts(service).items():
            if source.startswith(("./", "/")):
                assert source.startswith("./secrets/") and target.startswith("/run/secrets/"), (name, source)
            else:
                assert source in compose["volumes"], (name, source)
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], (name, secret)
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    worker = mounts(services["airflow-worker"])
    assert worker["/mnt/koji/compose"] == "compose-area"  # config/fedora.yaml's ostree.repo and mirror.staging


def test_every_variable_the_file_reads_is_in_env_example() -> None:
    read = variables(COMPOSE_FILE.read_text())
    documented = set(env_example())
    assert read <= documented, sorted(read - documented)
    assert documented <= read, sorted(documented - read)
    # with env.example's required values left empty, compose refuses to start, naming them
    with pytest.raises(AssertionError, match="compose would refuse"):
        interpolate(COMPOSE_FILE.read_text(), env_example())
    interpolate(COMPOSE_FILE.read_text(), filled_env())


def test_the_init_job_is_valid_bash(services: dict[str, dict[str, Any]]) -> None:
    words = command_words(services["airflow-init"])
    assert words[0] == "bash" and words[1].startswith("-") and "e" in words[1]
    script = interpolate(words[-1], filled_env())
    checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr
    python = script.split("<<'PASSWORDS'\n", 1)[1].split("\nPASSWORDS\n", 1)[0]
    compile(python, "airflow-init passwords", "exec")


# --- the image ---------------------------------------------------------------------------------------------


def test_the_image_installs_the_project_with_its_pins_and_the_tools_it_drives() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    ignored = [
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = dockerfile_copies()
    assert copies
    for source, _ in copies:
        assert (REPO / source).exists(), f"Dockerfile: COPY {source}: not in the repository"
        top = source.rstrip("/").split("/")[0]
        assert top not in ignored, f"Dockerfile: COPY {source}: excluded by .dockerignore"
    for needed in (".venv", "var", ".git", ".env", "secrets", "sandbox"):
        assert needed in ignored, needed
    assert {"pyproject.toml", "constraints.txt", "relengotron/"} <= {s for s, _ in copies}
    assert not [s for s, _ in copies if s.rstrip("/").split("/")[0] in ("sandbox", "tests", "bench")], copies
    # the production wheel is built from the project (offline: the pinned setuptools, no build isolation) and
    # installed with its constraints, not the source tree
    build = dockerfile.split("\nFROM ", 2)[1]
    assert re.search(r"pip install [^\n]*-c constraints\.txt setuptools wheel", build), "pinned build tools"
    assert re.search(r"pip wheel [^\n]*--no-deps --no-build-isolation -w dist \.", build), "the wheel is built"
    install = re.search(r"pip install [^\n]*-c constraints\.txt \\\n\s*dist/relengotron-\*\.whl", build)
    assert install, "the wheel must be installed with its constraints"
    assert not re.search(r"pip install [^\n]*-c constraints\.txt \.(\s|$)", dockerfile), "not the source tree"
    runtime = dockerfile.rsplit("\nFROM ", 1)[1]
    apt = re.search(r"apt-get install -y --no-install-recommends \\?\s*(.*?)\s*&& rm", runtime, re.S)
    assert apt and set(apt.group(1).replace("\\", " ").split()) >= TOOLS, apt
    assert 'ENTRYPOINT ["/usr/bin/dumb-init", "--"]' in dockerfile  # DUMB_INIT_SETSID=0 of the worker needs it
    # the dependencies of the distributed executor are declared and pinned
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=\[; ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    for package in ("apache-airflow-providers-celery", "psycopg2-binary", "asyncpg", "redis"):
        assert package in declared and package in pins, package


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    plugin = docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if not plugin or plugin.returncode != 0:
        pytest.skip("no docker compose plugin on this machine (the file is checked by the tests above)")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **filled_env()},
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_api_server_serves_the_dashboard_plugin_from_the_images_plugins_folder(
    services: dict[str, dict[str, Any]],
) -> None:
    """The release dashboard (plugins/relengotron_dashboard.py) is in the plugins folder the image configures,
    nothing in the api-server's service points it elsewhere or hides it under a volume, and the package it
    imports is in the production wheel."""
    found = re.search(r"AIRFLOW__CORE__PLUGINS_FOLDER=(\S+)", (REPO / "Dockerfile").read_text())
    assert found, "the image sets no plugins folder"
    folder = found.group(1)
    assert repo_file_in_image(f"{folder}/relengotron_dashboard.py") == REPO / "plugins" / "relengotron_dashboard.py"
    api = services["airflow-apiserver"]
    assert api.get("environment", {}).get("AIRFLOW__CORE__PLUGINS_FOLDER", folder) == folder
    assert not [target for target in mounts(api) if folder.startswith(target) or target.startswith(folder)]
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert "relengotron.*" in packages["include"]  # relengotron.dashboard goes into the wheel
