"""Airflow DAGs for a desk that outgrows the built-in scheduler (``tradelake run``).

The DAG files a deployment puts in its ``dags/`` folder hold no logic: ``tradelake airflow dags
--out DIR`` writes, per data home, one small file that calls :func:`dags.build_dags`. Each task
is one call to the :class:`~tradelake.platform.Platform` facade (:mod:`.tasks`), the same
method the CLI and the built-in scheduler call, so both orchestrators run the same code.

:mod:`.dags` imports Airflow (install it in its own environment: Airflow 3.3 pins its own
FastAPI and SQLAlchemy); :mod:`.tasks` and :mod:`.files` do not, so the CLI can write DAG files
without Airflow installed.
"""
