"""A step of the workflow: receives TaskSubmitted events and publishes
TaskProcessed ones. Each Kinesis record holds one event, a JSON object
with an execution_id that `xflow track` follows through the workflow.
"""

import base64
import json
import os

_kinesis = None  # one client per Lambda container, made on first use


def process_task(task):
    """The step's work: return the next event's data."""
    return {"result": f"processed {task.get('task', 'a task')}"}


def handle(event, context):  # the handler xflow.yaml names
    for record in event.get("Records", []):
        task = json.loads(base64.b64decode(record["kinesis"]["data"]))
        execution_id = task["execution_id"]
        result = {**process_task(task), "execution_id": execution_id}
        # Log the execution_id on every line: `xflow track` finds a failing
        # function's lines by it.
        print(f"execution_id={execution_id} processed: {json.dumps(result)}")
        # XFLOW_EMITS lists the streams of the events this function publishes.
        for stream in filter(None, os.environ.get("XFLOW_EMITS", "").split(",")):
            kinesis().put_record(StreamName=stream, Data=json.dumps(result), PartitionKey=execution_id)


def kinesis():
    global _kinesis
    if _kinesis is None:
        import boto3  # here, so that process_task() can be tested without boto3

        _kinesis = boto3.client("kinesis")
    return _kinesis
