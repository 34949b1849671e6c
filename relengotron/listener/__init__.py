"""The listener: fedmsg bus messages in, Airflow DAG runs out — exactly once, losing nothing.

``validate`` judges raw input, ``rules`` routes a message to DAG runs (pure), ``inbox`` stores it durably before
anything else happens, ``airflow_api`` creates the runs, ``replay`` fills gaps from datagrepper, ``service``
runs it all (``relengotron listener run``), ``cli`` is the command group.
"""
