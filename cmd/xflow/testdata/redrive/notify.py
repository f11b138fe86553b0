"""notify: logs every order placed, once per delivery."""

import base64
import json


def notify(event, context):
    for record in event["Records"]:
        order = json.loads(base64.b64decode(record["kinesis"]["data"]))
        print(f"notify execution_id={order['execution_id']} heard of")
