"""What every step of the word count does around its own work: decode each
Kinesis record's event, run the step, and publish the result as the next
event of the workflow, logging with the execution id so that `xflow track`
finds the lines. Each function installs this package through its
requirements.txt (a path requirement), and xflow's build puts it in the
function's package.
"""

import base64, json, os, re, traceback

_kinesis = None  # one boto3 Kinesis client per Lambda container, made on first use


def handle(event, step, function, emits):
    """Runs step on the event of each Kinesis record and publishes its result
    as the event emits. A failure is logged and raised, so that Lambda retries
    the batch (and, with bisect on error, isolates the bad record)."""
    for record in event.get("Records", []):
        # xflow's partition key is the execution id: it names a record that cannot be decoded.
        execution_id = record["kinesis"]["partitionKey"]
        try:
            inbound = json.loads(base64.b64decode(record["kinesis"]["data"]))
            execution_id = inbound["execution_id"]
            outbound = {"execution_id": execution_id, **step(inbound)}
            stream = os.environ.get("XFLOW_STREAM_" + re.sub("[^A-Za-z0-9]", "_", emits).upper())
            stream = stream or os.environ.get("XFLOW_NAME_PREFIX", "") + emits
            put = kinesis().put_record(StreamName=stream, Data=json.dumps(outbound), PartitionKey=execution_id)
            print(f"[{function}] execution_id={execution_id} published {emits} to {stream} as {put['SequenceNumber']}")
        except Exception as err:
            # One line, which `xflow track` finds by execution_id=<id>: "\r" keeps
            # the traceback's lines in one log event, as Lambda's own logger does.
            why = f"[ERROR] {type(err).__name__}: {err}\n{traceback.format_exc()}".rstrip()
            print(f"[{function}] execution_id={execution_id} " + why.replace("\n", "\r"))
            raise
    return {"batchItemFailures": []}


def kinesis():
    global _kinesis
    if _kinesis is None:
        import boto3  # here, so that the steps can be tested without boto3
        _kinesis = boto3.client("kinesis")
    return _kinesis
