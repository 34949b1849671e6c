# releng-o-tron: one image for every service of docker-compose.yaml (the Airflow api-server, scheduler,
# dag-processor, triggerer and Celery workers, and the bus listener).
#
# The production wheels of the project (the relengotron package, and its message schemas, messages/: the sandbox
# and the demo are a distribution of their own, sandbox/, never copied here) is built and installed with the exact versions of constraints.txt
# (apache-airflow 3.3.2 and its Celery provider included), on the Debian 12 the project is developed and tested
# on, with the Debian tools its tasks drive. Build: `docker compose build` (or `docker build -t relengotron .`).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the production wheel, then a virtualenv with it and its pinned dependencies -------------------
FROM ${PYTHON_IMAGE} AS build
# koji → requests-gssapi → gssapi builds from source and needs krb5-config
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libkrb5-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
ARG PIP_VERSION=26.3
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY relengotron/ relengotron/
COPY messages/ messages/
# the wheel is built with the pinned setuptools and wheel of a throwaway venv (no build isolation), and the
# runtime venv gets that wheel, not the source tree
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --disable-pip-version-check "pip==${PIP_VERSION}" \
    && /opt/build/bin/pip install --no-cache-dir --disable-pip-version-check -c constraints.txt setuptools wheel \
    && /opt/build/bin/pip wheel --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation -w dist . ./messages \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check "pip==${PIP_VERSION}" \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -c constraints.txt \
        dist/relengotron-*.whl dist/relengotron_messages-*.whl \
    && /opt/venv/bin/pip check

# --- runtime -----------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# What the tasks drive: ostree (OSTree repositories), rpm (rpmsign, rpmkeys), createrepo-c (the mash), rsync
# (the mirror sync), gnupg (signing and verification), openssh-client (the compose, mirror and sigul hosts);
# the Kerberos libraries for Koji's GSSAPI login; curl for the health checks; dumb-init as PID 1.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ostree rpm createrepo-c rsync gnupg openssh-client \
        libgssapi-krb5-2 krb5-user curl dumb-init \
    && rm -rf /var/lib/apt/lists/*

# As in Airflow's official image: user "airflow" (uid 50000) in group 0, so an arbitrary uid also works.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home --shell /bin/bash airflow \
    && install -d -o 50000 -g 0 -m 0775 /opt/airflow/logs /var/lib/relengotron/listener /mnt/koji/compose

COPY --from=build /opt/venv /opt/venv
# The DAGs, the plugins (operators, sensors), the release configuration and the deployment's own settings.
COPY dags/ /opt/relengotron/dags/
COPY plugins/ /opt/relengotron/plugins/
COPY config/ /opt/relengotron/config/
COPY deploy/ /opt/relengotron/deploy/

ENV PATH=/opt/venv/bin:${PATH} \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/relengotron/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/relengotron/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PYTHONUNBUFFERED=1

USER 50000:0
WORKDIR /opt/airflow
ENTRYPOINT ["/usr/bin/dumb-init", "--"]
CMD ["airflow", "version"]
