"""ship_order: on OrderChecked it publishes OrderShipped."""

import base64
import json
import os

import boto3

_kinesis = boto3.client("kinesis")  # once per worker, as on Lambda


def ship(event, context):
    for record in event["Records"]:
        order = json.loads(base64.b64decode(record["kinesis"]["data"]))
        order["shipped"] = True
        print(f"execution_id={order['execution_id']} shipped")
        _kinesis.put_record(StreamName=os.environ["XFLOW_STREAM_ORDERSHIPPED"],
                            Data=json.dumps(order).encode(), PartitionKey=order["execution_id"])
    return {"batchItemFailures": []}
