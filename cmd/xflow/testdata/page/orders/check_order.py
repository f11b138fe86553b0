"""check_order: on OrderPlaced {"execution_id", "items"} it publishes
OrderChecked, and raises for an order without items."""

import base64
import json
import os

import boto3

_kinesis = boto3.client("kinesis")  # once per worker, as on Lambda


def check(event, context):
    for record in event["Records"]:
        order = json.loads(base64.b64decode(record["kinesis"]["data"]))
        ex = order["execution_id"]
        print(f"execution_id={ex} checking {len(order.get('items', []))} items")
        count_items(order)
        _kinesis.put_record(StreamName=os.environ["XFLOW_STREAM_ORDERCHECKED"],
                            Data=json.dumps(order).encode(), PartitionKey=ex)
    return {"batchItemFailures": []}


def count_items(order):
    if not order.get("items"):
        raise ValueError(f"execution_id={order['execution_id']} has no items to check")
    return len(order["items"])
