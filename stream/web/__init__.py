"""Web surface: /health, /metrics, JSON API and the dashboard."""
