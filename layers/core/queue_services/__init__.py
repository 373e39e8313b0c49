"""Queue Services domain package: the code every function shares (the Lambda layer).

Public surface — what handlers, the local stack and tools import; everything else is internal:

- ``queue_services.api.build_api``: the api's resolver (every Router of ``queue_services.routes``, error handlers)
- ``queue_services.http_errors.refusal_answer``: a request refused before routing, as a proxy result
- ``queue_services.composition``: ``message_intake``, ``metrics_store``, ``api_key_store``, ``send_queue``,
  ``dead_letter_queue``, ``ledger``, ``schedule_store``, ``reset``
- ``queue_services.worker_composition``: ``channel_worker``, ``slot_claimer`` (workers only)
- ``queue_services.tenancy``: ``authorize``, ``Principal``, ``hash_api_key``
- ``queue_services.adapters.api_keys``: ``ApiKeyStore``, ``api_key_item`` (a key's table item)
- ``queue_services.codec``: ``encode_queued_message``, ``decode_queued_message`` (the SQS body)
- ``queue_services.models``: every request, answer and queued-message model
- ``queue_services.statuses``: ``MessageStatus`` and its rules
- ``queue_services.settings``: ``Settings``, ``get_settings``
- ``queue_services.observability``: ``logger``, ``tracer``, ``metrics``
- ``queue_services.errors``: the exception tree (``QueueServicesError`` and its subclasses)
- ``queue_services.channels.Channel``

Nothing is imported here, so a handler loads only the modules it uses (cold start).
"""

__all__: list[str] = []
