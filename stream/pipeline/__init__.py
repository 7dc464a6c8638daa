"""Orchestration over ports: ingest, flush, seal, rollup, evaluate, replay."""
