"""The first step: refuses an event that asks to fail, passes on the rest."""

import base64
import json
import os
import sys

import boto3

_kinesis = boto3.client("kinesis")  # once per worker, as on Lambda
_count = 0  # invocations of this worker


def check(event, context):
    global _count
    _count += 1
    for r in event["Records"]:
        p = json.loads(base64.b64decode(r["kinesis"]["data"]))
        ex = p["execution_id"]
        print(f"execution_id={ex} py_check pid={os.getpid()} invocation={_count} "
              f"remaining_ms={context.get_remaining_time_in_millis()} request={context.aws_request_id}")
        if p.get("fail"):
            raise ValueError(f"execution_id={ex} cannot be checked: the event asks to fail")
        p["py"] = {"pid": os.getpid(), "invocation": _count, "version": sys.version.split()[0],
                   "function": context.function_name, "memory": context.memory_limit_in_mb}
        _kinesis.put_record(StreamName=os.environ["XFLOW_STREAM_CHECKED"], Data=json.dumps(p).encode(), PartitionKey=ex)
    return {"batchItemFailures": []}
