"""Operators of the ``eol`` DAG: show the plan, let it through (or stop a dry run), ask a release engineer's
approval, run one step, publish last.

Each ``execute`` calls one function of :mod:`relengotron.eol_run` (planning, executing steps) with the
services :func:`relengotron.airflow.eol.eol_services` builds (clients from the hooks on first use, so a task
connects only to what its step needs); the mapping of a plan onto tasks is :mod:`relengotron.airflow.eol`'s.
Constructors only store their arguments; nothing is read or connected before ``execute``.

Failures: transient ones (a service unreachable, 5xx, Koji busy) are raised as they are, so the task's retries
(exponential backoff) apply; every other one fails the task at once (``AirflowFailException``) with the
library's message naming the item.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from relengotron.airflow.arguments import flag, run_time
from relengotron.airflow.connections import Connections
from relengotron.airflow.errors import permanent_failures

if TYPE_CHECKING:
    from relengotron.config import ReleaseConfig
    from relengotron.eol_run import EOLServices


class _EOLOperator(BaseOperator):
    """Base: the release, the archive overrides and the connection ids every EOL task shares."""

    template_fields: Sequence[str] = ("release", "archive", "ostree_archive")

    def __init__(
        self,
        *,
        release: str,
        archive: str | None = None,
        ostree_archive: str | None = None,
        koji_conn_id: str = "koji_default",
        pdc_conn_id: str = "pdc_default",
        bugzilla_conn_id: str = "bugzilla_default",
        bus_conn_id: str = "bus_default",
        signing_conn_id: str = "signing_default",
        mirror_ssh_conn_id: str = "mirror_ssh",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.archive = archive
        self.ostree_archive = ostree_archive
        self.koji_conn_id = koji_conn_id
        self.pdc_conn_id = pdc_conn_id
        self.bugzilla_conn_id = bugzilla_conn_id
        self.bus_conn_id = bus_conn_id
        self.signing_conn_id = signing_conn_id
        self.mirror_ssh_conn_id = mirror_ssh_conn_id

    @contextmanager
    def services(self) -> Iterator[tuple[ReleaseConfig, str, EOLServices]]:
        """The run's release configuration, the checked release id and the services (closed afterwards)."""
        from relengotron.airflow.eol import check_release, eol_config, eol_services, ostree_archive_path
        from relengotron.airflow.hooks import release_config

        config = eol_config(release_config(), self.archive)
        release = check_release(config, self.release)
        archive = ostree_archive_path(config, self.ostree_archive)
        with eol_services(config, release, ostree_archive=archive, connections=Connections.of(self)) as services:
            yield config, release, services


class EOLPlanOperator(_EOLOperator):
    """Gather the facts and plan the end of life of ``release``; log the plan as text, return its steps as
    dicts. Read-only (this is the dry run), so rerunning it is always safe; a plan made after the steps ran
    leaves out what they did.

    ``eol_date`` (``YYYY-MM-DD``) is the day the bug comments and the message give; default: the day the run
    was triggered.
    """

    template_fields: Sequence[str] = (*_EOLOperator.template_fields, "eol_date")
    ui_color = "#e8f4fa"

    def __init__(self, *, eol_date: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eol_date = eol_date

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.airflow.eol import eol_date
        from relengotron.eol_run import plan_for

        with permanent_failures(), self.services() as (config, release, services):
            day = eol_date(self.eol_date, run_time(context).date())
            plan = plan_for(release, config, services, day)
        text = plan.render()
        self.log.info("%s", text)
        context["ti"].xcom_push(key="text", value=text)  # what the approval shows (EOLApprovalOperator)
        return [step.as_dict() for step in plan.steps]


class EOLGateOperator(BaseOperator):
    """Stop a dry run (``preview`` true) after the plan; otherwise turn the plan into the step task's items
    (every step but the EOL message, in plan order, each named by its key) and hand the plan on to the message
    task (XCom key ``plan``), so that nothing after this task runs unless it did. Writes nothing anywhere else;
    rerunning it gives the same items.

    In a dry run it is skipped, and so is everything after it.
    """

    template_fields: Sequence[str] = ("plan", "preview")
    ui_color = "#fdf6e3"

    def __init__(self, *, plan: Any, preview: Any = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.preview = preview

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from airflow.sdk import conf

        from relengotron.airflow.eol import task_items

        with permanent_failures():
            if flag(self.preview, "preview"):
                raise AirflowSkipException("dry run: the plan above is all this run does; nothing was changed")
            items = task_items(self.plan or [], max_items=conf.getint("core", "max_map_length"))
        context["ti"].xcom_push(key="plan", value=list(self.plan or []))
        self.log.info("%d step task(s): %s", len(items), ", ".join(item["key"] for item in items) or "none")
        return items


class EOLApprovalOperator(ApprovalOperator):
    """Ask a release engineer to approve the plan before anything changes (Airflow's human-in-the-loop
    ``ApprovalOperator``: the task waits, holding no worker slot, until someone answers on its *Required
    actions* page or through the REST API's ``hitlDetails`` endpoint). The body shows ``plan_text``, the plan
    as the ``plan`` task logged it.

    - *Approve*: the steps and the message run.
    - *Reject* — or nobody answering within ``response_timeout`` (default
      :data:`relengotron.approval.EOL_TIMEOUT`; the default answer is *Reject*): every task after this one
      is skipped, nothing changes; the log says who rejected and when (its XCom holds the answer).

    Skipped, asking nothing, when the plan is empty (nothing to approve: the release is end-of-life
    everywhere). Writes nothing itself; rerunning it (clearing it) asks again.
    """

    template_fields: Sequence[str] = (*ApprovalOperator.template_fields, "plan", "plan_text")
    ui_color = "#fff3cd"

    def __init__(self, *, plan: Any, plan_text: Any, release: str, **kwargs: Any) -> None:
        from relengotron.approval import EOL_TIMEOUT, REJECT

        kwargs.setdefault("response_timeout", EOL_TIMEOUT)
        super().__init__(
            subject=f"End of life of {release}: carry out this plan?",
            defaults=REJECT,
            ignore_downstream_trigger_rules=True,  # the message too, whatever its trigger rule
            **kwargs,
        )
        self.plan = plan
        self.plan_text = plan_text

    def execute(self, context: Any) -> Any:
        from relengotron.approval import question

        if not self.plan:
            raise AirflowSkipException("the plan is empty: nothing to approve, nothing to do")
        self.body = question(
            str(self.plan_text or ""),
            approve="every step above is carried out, then the EOL message is published.",
            reject="nothing changes anywhere: every step and the message are skipped.",
            timeout=self.response_timeout,
        )
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from relengotron.approval import decision_of

        if "error" not in event:  # an answer (a timed-out question without one fails the task: not here)
            decision = decision_of(event)
            context["ti"].xcom_push(key="decision", value=decision.as_dict())
            if decision.approved:
                self.log.info("the EOL plan was %s: carrying it out", decision.describe())
            else:
                self.log.warning(
                    "the EOL plan was %s: nothing changed, the steps and the message are skipped", decision.describe()
                )
        return super().execute_complete(context, event)  # on Reject: skips every task after this one


class EOLStepOperator(_EOLOperator):
    """Carry out one item of the plan (one step; a batch of bug closings only for releases with more bugs than
    Airflow maps). Meant to be mapped over :class:`EOLGateOperator`'s items with ``expand_kwargs``.

    Idempotent: each step looks first and changes only what is not done yet (the PDC release still active, the
    target still there, the tag unlocked, the bug open, the ref's head not end-of-life or not archived, the
    path still on the master mirror), so a retry or a rerun after success changes nothing and a rerun after a
    crash finishes the step.
    """

    ui_color = "#f3e8fa"  # key and steps come from the mapping (expand_kwargs): data, never templates

    def __init__(self, *, key: str, steps: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = key
        self.steps = steps

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.eol_run import execute_steps

        with permanent_failures(), self.services() as (_, _, services):
            outcomes = execute_steps(self.steps, services)
        for outcome in outcomes:
            self.log.info("%s: %s", "done" if outcome.changed else "already done", outcome.detail)
        return [outcome.as_dict() for outcome in outcomes]


class EOLPublishOperator(_EOLOperator):
    """Publish the EOL message of the plan (its last step), saying what the plan did; skipped when the plan has
    none (the release was announced before).

    Idempotent: the EOL marker in the archive tree records a published message, so a rerun after success
    publishes nothing; a crash between publishing and writing the marker publishes again (at least once).
    """

    template_fields: Sequence[str] = (*_EOLOperator.template_fields, "plan")
    ui_color = "#e8faf0"

    def __init__(self, *, plan: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.eol import publish_step
        from relengotron.eol_run import execute_step

        step = publish_step(self.plan or [])
        if step is None:
            raise AirflowSkipException("the plan has no EOL message: the release was announced before")
        with permanent_failures(), self.services() as (_, _, services):
            outcome = execute_step(step, services, plan_steps=self.plan)
        self.log.info("%s: %s", "done" if outcome.changed else "already done", outcome.detail)
        return outcome.as_dict()
