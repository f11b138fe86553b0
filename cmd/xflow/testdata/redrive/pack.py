"""pack: on OrderPlaced it publishes OrderPacked. While PACK_BROKEN is "1"
it raises for a fragile order: the bug redrive recovers from."""

import base64
import json
import os

import boto3

_kinesis = boto3.client("kinesis")  # once per worker, as on Lambda


def pack(event, context):
    for record in event["Records"]:
        order = json.loads(base64.b64decode(record["kinesis"]["data"]))
        ex = order["execution_id"]
        print(f"execution_id={ex} packing")
        if order.get("fragile") and os.environ.get("PACK_BROKEN") == "1":
            raise ValueError(f"execution_id={ex} is fragile and there is no bubble wrap")
        order["packed"] = True
        _kinesis.put_record(StreamName=os.environ["XFLOW_STREAM_ORDERPACKED"],
                            Data=json.dumps(order).encode(), PartitionKey=ex)
