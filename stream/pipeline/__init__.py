"""Orchestration over ports (:mod:`stream.pipeline.ports`); no client library here.

Ingest (``ingest``, ``dataplane``; labels: ``labels``, ``labelplane``), rollups
(``rollup``, ``control``), evaluation (``evaluate``, ``health_eval``), worker
health (``health``), references (``reference``, ``tabular``), replays
(``replay``), the offline check (``offline``) and the alert forwarder
(``forward``); in-memory implementations of the ports for tests and the offline
check (``memory``). Flushing and sealing are steps of ``ingest``/``dataplane``.
"""
