"""The AWS adapters: the only modules that call boto3, each through the one SDK error translation (aws.py).

send_queue (SQS send queues), schedules (EventBridge Scheduler), ledger (the message ledger), metrics_store
(the counters), dead_letters (the DLQs), rate_limit_table (the limiter's slots), api_keys (the keys table),
idempotency_store (Powertools Idempotency's table, success writes batched).
"""
