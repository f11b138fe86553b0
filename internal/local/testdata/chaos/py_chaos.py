"""A handler that misbehaves on purpose, for the mapping tests.

It records every delivery (its pid and the batch's sequence numbers) in
MARK_DIR, hangs on a record asking for it the first time it sees it, raises
on a record asking for it every time, and passes the others on to Done with
the sequence number of the record they came from.
"""

import base64
import json
import os
import time

import boto3

_kinesis = boto3.client("kinesis")
MARKS = os.environ["MARK_DIR"]


def handle(event, context):
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    with open(os.path.join(MARKS, "deliveries.jsonl"), "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "seqs": seqs}) + "\n")
    for r in event["Records"]:
        p = json.loads(base64.b64decode(r["kinesis"]["data"]))
        ex, seq = p["execution_id"], r["kinesis"]["sequenceNumber"]
        if p.get("mode") == "hang":
            mark = os.path.join(MARKS, "hung-" + seq)
            if not os.path.exists(mark):
                open(mark, "w").close()
                print(f"execution_id={ex} hanging on record {seq}")
                time.sleep(3600)
        if p.get("mode") == "bad":
            raise RuntimeError(f"execution_id={ex} record {seq} is bad")
        body = {"execution_id": ex, "source_seq": seq}
        _kinesis.put_record(StreamName=os.environ["XFLOW_STREAM_DONE"], Data=json.dumps(body).encode(), PartitionKey=ex)
    return {"batchItemFailures": []}
