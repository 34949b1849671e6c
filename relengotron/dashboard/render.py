"""The dashboard's HTML: server-rendered, no JavaScript, one small inline stylesheet, readable on a laptop;
every time in UTC. Pure: view models (:mod:`.pushes`, :mod:`.gate`, :mod:`.excuses`, :mod:`.testing`) in, a
page out. Jinja with autoescaping: every value from a run (NVRs, reasons, notes) is escaped.

Links are relative to the dashboard's mount point (every page is served at it: ``<prefix>/``, the excuses at
``<prefix>/excuses?item=...``), and those into the Airflow UI open in the whole window (``target=_top``), not in
the UI's frame the view is shown in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import jinja2

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1rem 2rem;color:#1b1b1b;max-width:90rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.5rem 0 .4rem;border-bottom:1px solid #ccc}
h3{font-size:1rem;margin:1rem 0 .3rem}table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #e5e5e5;vertical-align:top}
th{background:#f4f4f4;font-weight:600}code{font-size:12px;word-break:break-all}
.state{display:inline-block;padding:0 .4rem;border-radius:.6rem;font-size:12px;white-space:nowrap;background:#eee}
.released,.promoted,.passed,.signed,.complete,.pushed,.unchanged,.healthy,.connected,.already-done{background:#d8f0d8}
.held-back,.quarantined,.failed,.error,.refused,.unhealthy,.unreachable,.disconnected{background:#f8d0d0}
.under-test,.composed,.composing,.pending,.missing,.waiting,.in-progress{background:#fdf0c8}
.waived,.unsigned{background:#e0e8f8}nav a{margin-right:1rem}small,.muted{color:#666}
"""

PAGE = jinja2.Template(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }} — Release engineering</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{{ style }}</style></head><body>
<h1>{{ title }}</h1>
<nav><a href="./">Overview</a><a href="./#gate">Rawhide gate</a><a href="./#testing">Community testing</a>
<a href="autosign">Autosign</a><a href="listener">Listener</a>
<a href="api/pushes">JSON: pushes</a><a href="api/gate">JSON: gate</a><a href="api/testing">JSON: testing</a>
<a href="../" target="_top">Airflow</a></nav>
<p class="muted">Generated {{ now }} from the runs Airflow recorded. All times UTC.</p>
{{ body }}
</body></html>""",
    autoescape=True,
)

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_ENV.filters["css"] = lambda state: str(state or "").replace(" ", "-")
_ENV.filters["excuses"] = lambda item: "excuses?" + urlencode({"item": item})

_MACROS = """
{% macro badge(state) %}<span class="state {{ state|css }}">{{ state }}</span>{% endmacro %}
{% macro tilinks(links) %}<a href="{{ links.task }}" target="_top">task</a> ·
<a href="{{ links.log }}" target="_top">log</a>{% endmacro %}
"""

OVERVIEW = _ENV.from_string(
    _MACROS
    + """
<h2 id="pushes">Pushes</h2>
{% for release, pushes in releases.items() %}<h3>{{ release }}</h3>
{% for push in pushes %}
<p>{{ badge(push.status) }} <b>{{ push.repo }}</b> push <code>{{ push.push_id }}</code>
{% if push.agent %}by {{ push.agent }}{% endif %} — started {{ push.started or "not yet" }}{% if push.ended %},
ended {{ push.ended }}{% endif %} — <a href="{{ push.links.run }}" target="_top">run {{ push.run_id }}</a>
· report {{ tilinks(push.links) }}</p>
<table><tr><th>Update</th><th>Builds</th><th>Outcome</th><th>Why</th></tr>
{% for u in push.updates %}<tr><td><a href="{{ u.alias|excuses }}">{{ u.alias }}</a></td>
<td>{% for b in u.builds %}<code>{{ b }}</code> {% endfor %}</td><td>{{ badge(u.status) }}</td>
<td>{% if u.held_back %}held back by {% for h in u.held_back %}{{ h.label }} ({{ h.reason }}){% if not loop.last %};
{% endif %}{% endfor %}{% else %}{{ u.reason or "" }}{% endif %}</td></tr>
{% else %}<tr><td colspan="4" class="muted">no updates read yet</td></tr>{% endfor %}</table>
<table><tr><th>Artifact</th><th>State</th><th>Why</th><th>Task</th></tr>
{% for a in push.artifacts %}<tr><td><a href="{{ a.label|excuses }}">{{ a.label }}</a></td><td>{{ badge(a.state) }}</td>
<td>{{ a.reason }}</td><td><code>{{ a.links.task_id }}</code> {{ tilinks(a.links) }}</td></tr>
{% else %}<tr><td colspan="4" class="muted">not planned yet</td></tr>{% endfor %}</table>
{% endfor %}
{% else %}<p class="muted">No updates_push run recorded.</p>{% endfor %}

<h2 id="gate">Rawhide gate</h2>
{% for section, builds in gate.sections.items() if builds or section != "error" %}
<h3>{{ section|capitalize }} ({{ builds|length }})</h3>
<table><tr><th>Build</th><th>Packager</th><th>Tag</th><th>Failing check</th><th>Why</th><th>Task</th></tr>
{% for b in builds %}<tr><td><a href="{{ b.nvr|excuses }}">{{ b.nvr }}</a></td><td>{{ b.packager or "" }}</td>
<td><code>{{ b.tag }}</code></td>
<td>{% for f in b.failing %}{% if f.result %}<a href="{{ f.result }}">{{ f.test_case }} {{ f.outcome }}</a>{% else %}
{{ f.test_case }} {{ f.outcome }}{% endif %}{% if f.note %}: {{ f.note }}{% endif %}<br>{% endfor %}</td>
<td>{{ b.reason }}</td><td>{{ tilinks(b.links) }}</td></tr>
{% else %}<tr><td colspan="6" class="muted">none</td></tr>{% endfor %}</table>
{% endfor %}

<h2 id="testing">Community testing</h2>
<p class="muted">Candidates of the latest pushes, not released yet: download one, test it, and tell the release
engineers.</p>
<table><tr><th>Candidate</th><th>State</th><th>Download</th><th>SHA-256</th><th>Results so far</th></tr>
{% for c in testing %}<tr><td>{{ c.label }}<br><small>composed {{ c.composed_at or "" }}</small></td>
<td>{{ badge(c.state) }}</td>
<td>{% if c.download %}<a href="{{ c.download }}">image</a>{% if c.manifest %} · <a href="{{ c.manifest }}">manifest</a>
{% endif %}{% elif c.ostree %}<code>{{ c.ostree.url }}</code> ref <code>{{ c.ostree.ref }}</code>{% endif %}</td>
<td><code>{{ c.sha256 or (c.ostree.commit if c.ostree else "") }}</code></td>
<td>{% for r in c.results %}{{ badge(r.verdict) }} {{ r.summary }}<br>
{% else %}waiting for results{% endfor %}</td></tr>
{% else %}<tr><td colspan="5" class="muted">no candidate under test</td></tr>{% endfor %}</table>
"""
)

EXCUSES = _ENV.from_string(
    _MACROS
    + """
{% for e in entries %}
<h2>{{ e.type|capitalize }} {{ e.item }} {{ badge(e.state) }}</h2>
<p>{{ e.reason }}{% if e.get("packager") %} — packager {{ e.packager }}{% endif %}
{% if e.get("links") %} — {{ tilinks(e.links) }}{% endif %}</p>
{% if e.get("builds") %}<p>Builds: {% for b in e.builds %}<code>{{ b }}</code> {% endfor %}</p>{% endif %}
{% for sub in ([e] if "checks" in e else e.artifacts) %}
{% if sub is not sameas e %}<h3><a href="{{ sub.item|excuses }}">{{ sub.item }}</a> {{ badge(sub.state) }}</h3>
<p>{{ sub.reason }}</p>{% endif %}
<table><tr><th>Check</th><th>Verdict</th><th>Detail</th></tr>
{% for c in sub.checks %}<tr><td>{{ c.check }}</td><td>{{ badge(c.verdict) }}</td>
<td>{% if c.link %}<a href="{{ c.link }}" target="_top">{{ c.detail }}</a>{% else %}{{ c.detail }}{% endif %}</td></tr>
{% endfor %}</table>
{% endfor %}
{% else %}<p>Nothing recorded about <code>{{ item }}</code> in the latest runs.</p>{% endfor %}
"""
)


def page(title: str, body: str, now: str) -> str:
    return PAGE.render(title=title, body=jinja2.utils.markupsafe.Markup(body), style=STYLE, now=now)


def overview(
    releases: Mapping[str, Sequence[Mapping[str, Any]]],
    gate: Mapping[str, Any],
    testing: Sequence[Mapping[str, Any]],
    now: str,
) -> str:
    """The dashboard's main page: the latest pushes per release, the Rawhide gate, the community testing list."""
    return page("Release engineering", OVERVIEW.render(releases=releases, gate=gate, testing=testing), now)


def excuses(item: str, entries: Sequence[Mapping[str, Any]], now: str) -> str:
    """Every check's verdict about ``item`` (an update alias, a build NVR or an artifact label)."""
    return page(f"Excuses: {item}", EXCUSES.render(item=item, entries=entries), now)
