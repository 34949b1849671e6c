"""The release dashboard (issue 17): why every update, build and artifact is where it is, as a "Release
engineering" view of the Airflow UI and as JSON — read from what the product already records (the DAG runs'
task instances and XComs in Airflow's metadata database), never from a store of its own.

Pure modules turn recorded facts into what the page says (:mod:`.facts`, :mod:`.links`, :mod:`.pushes`,
:mod:`.gate`, :mod:`.excuses`, :mod:`.render`); :mod:`.records` reads Airflow's records and :mod:`.app` is the
FastAPI app the plugin (``plugins/relengotron_dashboard.py``) mounts in the api-server.
"""
