"""`make chaos`: the whole system under a storm of subscribers, payments and failures.

Real processes (the gateway under gunicorn, two Celery workers, beat, the bot, an append-only
Redis) against both stand-ins with their faults on; `python -m tests.chaos --size N` prints the
figures and exits non-zero on any miss. tests/chaos/test_chaos.py runs it at a small size.
"""
