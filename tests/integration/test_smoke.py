import json

from tests.support.events import api_event


def test_seed_sms_flows_to_provider(stack):
    response = stack.api.invoke(api_event("api_schedule_sms"))
    assert response["statusCode"] == 202, response
    event = stack.receive_event("SmsQueue", 10)
    result = stack.sms_worker.invoke(event)
    assert result == {"batchItemFailures": []}
    print(json.dumps(stack.sink_messages(), indent=1))
    print(stack.api.invoke(api_event("api_get_metrics")))
