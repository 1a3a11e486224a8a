"""The HA drill (make test-ha): replicas, HAProxy, PostgreSQL failover, Alertmanager pair, under faults."""
