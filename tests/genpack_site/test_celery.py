from __future__ import annotations

from tests.harness import start_celery_worker, stop_process


def test_real_worker_process_on_redis_runs_a_task(redis_celery) -> None:
    client, env = redis_celery
    worker = start_celery_worker(env, name="ping")
    try:
        result = client.send_task("genpack_site.ping", args=["hello from the test"])
        assert result.get(timeout=90) == "hello from the test"
    finally:
        output = stop_process(worker)
    assert "redis://" in output  # the worker really was connected to Redis
    assert "genpack_site.ping" in output
