"""The only place that imports Kafka, Redis and HTTP client libraries."""
