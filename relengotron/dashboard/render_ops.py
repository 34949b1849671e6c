"""The operations pages of the dashboard: the listener's health and the autosign queue with its refusals.
Pure: view models (:mod:`.listener`, :mod:`.signing`) in, a page out, in :mod:`.render`'s page, style and
macros (Jinja with autoescaping: dead letters' reasons and topics are escaped like everything else).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relengotron.dashboard.render import _ENV, _MACROS, page

LISTENER = _ENV.from_string(
    _MACROS
    + """
<h2 id="listener">Listener {{ badge(v.state) }}</h2>
<p>{% if v.url %}<code>{{ v.url }}</code>{% endif %} — asked {{ v.read_at }}</p>
{% if v.problems %}<ul>{% for p in v.problems %}<li>{{ p }}</li>{% endfor %}</ul>{% endif %}
{% for e in v.errors if e not in v.problems %}<p class="muted">{{ e }}</p>{% endfor %}
{% if v.bus %}<h3>Bus</h3>
<table><tr><th>Transport</th><th>Connected</th><th>Broker / queue</th><th>Last heard</th><th>Reconnects</th>
<th>Last error</th></tr>
<tr><td>{{ v.bus.transport }}</td><td>{{ badge("connected" if v.bus.connected else "disconnected") }}</td>
<td>{% if v.bus.get("broker") %}<code>{{ v.bus.broker }}</code>
<code>{{ v.bus.get("queue") or "" }}</code>{% endif %}</td>
<td>{% if v.bus.get("last_heard_seconds") is not none %}{{ v.bus.last_heard_seconds }} s ago
(heartbeat {{ v.bus.get("heartbeat_seconds") }} s){% endif %}</td>
<td>{{ v.bus.get("reconnects", "") }}
{% for r, n in (v.bus.get("reconnects_by_reason") or {}).items() %}<br>{{ r }}: {{ n }}{% endfor %}</td>
<td>{{ v.bus.get("last_error") or "" }}</td></tr></table>{% endif %}
{% if v.inbox %}<h3>Inbox</h3>
<p>{{ v.inbox.pending_messages }} message(s) pending; runs to trigger {{ v.inbox.runs_to_trigger }}, open batches
{{ v.inbox.open_batches }}, retrying {{ v.inbox.retrying }}; runs triggered {{ v.inbox.runs_triggered }}. Last
message seen live: {{ v.inbox.last_seen_live or "none yet" }}.</p>
{% if v.inbox.waiting_on %}<p>{{ badge("waiting") }} on {{ v.inbox.waiting_on.dag_id }}
<code>{{ v.inbox.waiting_on.dag_run_id }}</code> after {{ v.inbox.waiting_on.attempts }} attempt(s):
{{ v.inbox.waiting_on.last_error }}</p>{% endif %}{% endif %}
{% if v.airflow_error %}<p>{{ badge("error") }} Airflow: {{ v.airflow_error }}</p>{% endif %}
{% if v.replay_error %}<p>{{ badge("error") }} replay: {{ v.replay_error }}</p>{% endif %}
{% if v.dead_letters %}<h3 id="dead-letters">Dead letters ({{ v.dead_letters.total }})</h3>
<table><tr><th>#</th><th>Kind</th><th>When</th><th>Topic</th><th>Message</th><th>Why</th></tr>
{% for d in v.dead_letters.shown %}<tr><td>{{ d.id }}</td><td>{{ badge(d.kind) }}</td><td>{{ d.created or "" }}</td>
<td><code>{{ d.topic or "" }}</code></td><td><code>{{ d.msg_id or "" }}</code></td><td>{{ d.reason }}</td></tr>
{% else %}<tr><td colspan="6" class="muted">none</td></tr>{% endfor %}</table>
{% if v.dead_letters.total > v.dead_letters.shown|length %}<p class="muted">the newest {{ v.dead_letters.shown|length }}
shown: <code>relengotron listener status</code> lists them all</p>{% endif %}{% endif %}
{% if v.publishers is not none %}<h3 id="publishers">Last message per publisher</h3>
<table><tr><th>Publisher</th><th>Sequence</th><th>Sent</th><th>Received</th><th>Topic</th><th>Message</th></tr>
{% for p in v.publishers %}<tr><td>{{ p.name }}</td><td>{{ p.last_i }}</td><td>{{ p.last_sent or "" }}</td>
<td>{{ p.last_received or "" }}</td><td><code>{{ p.last_topic or "" }}</code></td><td><code>{{ p.last_msg_id or ""
}}</code></td></tr>{% else %}<tr><td colspan="6" class="muted">nothing seen live yet</td></tr>{% endfor %}</table>
{% endif %}
{% if v.counters %}<h3>Since it started</h3><table><tr><th>Counter</th><th>Value</th></tr>
{% for name, value in v.counters.items() if value not in (none, {}) %}<tr><td>{{ name|replace("_", " ") }}</td>
<td>{% if value is mapping %}{% for k, n in value.items() %}{{ k }}: {{ n }}<br>{% endfor %}{% else %}{{ value
}}{% endif %}</td></tr>{% endfor %}</table>{% endif %}
"""
)

AUTOSIGN = _ENV.from_string(
    _MACROS
    + """
{% for section, builds in a.sections.items() if builds or section in ("waiting", "refused") %}
<h2 id="{{ section|css }}">{{ section|capitalize }} ({{ builds|length }})</h2>
<table><tr><th>Build</th><th>Release</th><th>Tags</th><th>When</th><th>Why</th><th>Task</th></tr>
{% for b in builds %}<tr><td><code>{{ b.nvr }}</code>{% if b.get("packager") %}<br><small>{{ b.packager }}</small>
{% endif %}</td><td>{{ b.release or "" }}</td><td>{% if b.from_tag %}<code>{{ b.from_tag }}</code> →
<code>{{ b.to_tag or "none" }}</code>{% endif %}</td><td>{{ b.when or "" }}</td>
<td>{{ b.reason }}{% if b.get("previously") %}<br><small>previously {{ b.previously.state }}: {{ b.previously.reason
}}</small>{% endif %}</td><td>{{ tilinks(b.links) }}</td></tr>
{% else %}<tr><td colspan="6" class="muted">none</td></tr>{% endfor %}</table>
{% endfor %}
<h2 id="runs">Runs</h2>
<table><tr><th>Run</th><th>Release</th><th>State</th><th>Started</th><th>Summary</th></tr>
{% for r in a.runs %}<tr><td><a href="{{ r.links.run }}" target="_top">{{ r.run_id }}</a></td><td>{{ r.release or "" }}
{% if r.requested %}<br><small>{{ r.requested|join(", ") }}</small>{% endif %}</td><td>{{ badge(r.state) }}</td>
<td>{{ r.started or "" }}</td><td>{% if r.summary %}{{ r.summary.listed }} listed, {{ r.summary.signed }} signed,
{{ r.summary.already_done }} already done, {{ r.summary.not_done }} not done, {{ r.summary.left_for_next_run }} left
{% elif r.listed is not none %}{{ r.listed }} listed{% else %}list: {{ r.list_state or "not run" }}
({{ tilinks(r.links) }}){% endif %}</td></tr>
{% else %}<tr><td colspan="5" class="muted">No autosign run recorded.</td></tr>{% endfor %}</table>
"""
)


def listener(view: Mapping[str, Any], now: str) -> str:
    """The listener's health page (:func:`relengotron.dashboard.listener.listener_view`)."""
    return page("Listener", LISTENER.render(v=view), now)


def autosign(view: Mapping[str, Any], now: str) -> str:
    """The autosign queue and refusals page (:func:`relengotron.dashboard.signing.autosign_view`)."""
    return page("Autosign", AUTOSIGN.render(a=view), now)
