"""The listener: fedmsg bus messages in, Airflow DAG runs out — exactly once, losing nothing.

``validate`` judges raw input, ``schemas`` a body against its publisher's schema (the schema packages) or the
rules' field checks, ``rules`` routes a message to DAG runs or ignores it on purpose (pure; its body filters in
``filters``, its templates in ``templates``, the release configuration they read in ``releases``), ``inbox``
stores it durably before anything else happens, ``airflow_api`` creates the runs, ``replay`` fills gaps from
datagrepper, ``service`` runs it all (``relengotron listener run``), ``explain`` says what the rules make of one
message (``relengotron listener route``), ``cli`` is the command group.
"""
