"""lambda_aggregator: groups equal words and counts them.

Listens on FileFiltered ({"execution_id", "words_filtered"}) and publishes
FileAggregated ({"execution_id", "words_aggregated"}):
how many times each word occurs, case-sensitive, in order of first
occurrence.

Ported from xFlow's examples/wordcount/lambda_aggregator.py (Python 2.7):
the same events with the same keys and values. Unlike the original it uses
the execution id as partition key (the whole event was the key, which fails
above 256 bytes) and raises on a record it cannot process instead of
logging and dropping it, so that Lambda retries it.

Each function of the example is one file because xflow packages a
single-file source alone; the lines that decode Kinesis records and
publish the next event are therefore repeated in every file.
"""

import base64
import json
import os
import re

FUNCTION = "lambda_aggregator"
INBOUND_EVENT = "FileFiltered"
OUTBOUND_EVENT = "FileAggregated"


def count_words(payload):
    """The step."""
    counts = {}
    for w in _field(payload, "words_filtered", list, str):
        counts[w] = counts.get(w, 0) + 1
    return {"words_aggregated": counts}


def aggregate(event, context):
    """Lambda handler (xflow handler `aggregate`)."""
    return _handle(event, count_words)


# --- the same in every function of the example ---------------------------

_kinesis = None  # one client per container, made on first use


class RecordError(Exception):
    """A record this function cannot process. Raising it fails the batch, so
    Lambda retries it and, with bisect on error, isolates the bad record."""


def _handle(event, step, after=None):
    for record in event.get("Records") or []:
        execution_id, payload, seq = _decode(record)
        try:
            body = step(payload)
        except Exception as err:
            _fail(execution_id, seq, str(err), err)
        body = {"execution_id": execution_id, **body}
        if after:
            after(execution_id, body)
        _publish(execution_id, body)
    # Also the answer Lambda expects when the mapping reports batch item
    # failures: none failed.
    return {"batchItemFailures": []}


def _decode(record):
    """Returns (execution_id, payload, sequence number) of a Kinesis record."""
    kinesis = record.get("kinesis") or {}
    seq = kinesis.get("sequenceNumber", "?")
    # xflow publishes with the execution id as partition key, so the key
    # names the execution of a record that cannot be decoded.
    key = kinesis.get("partitionKey") or "unknown"
    try:
        payload = json.loads(base64.b64decode(kinesis["data"], validate=True))
    except (KeyError, TypeError, ValueError) as err:
        _fail(key, seq, f"data is not base64-encoded JSON ({err}); execution id taken from the partition key", err)
    if not isinstance(payload, dict):
        _fail(key, seq, f"the event is a JSON {type(payload).__name__}, not an object; execution id taken from the partition key")
    execution_id = payload.get("execution_id")
    if not isinstance(execution_id, str) or not execution_id:
        _fail(key, seq, f"the event has no execution_id string (got {execution_id!r}); execution id taken from the partition key")
    _log(execution_id, f"received {INBOUND_EVENT} record {seq}: {_short(json.dumps(payload))}")
    return execution_id, payload, seq


def _field(payload, name, kind, item=None):
    """payload[name], checked to be a kind (of items of type item)."""
    if name not in payload:
        raise ValueError(f"the event has no {name!r}")
    value = payload[name]
    if not isinstance(value, kind):
        raise TypeError(f"{name!r} is a JSON {type(value).__name__}, want a {kind.__name__}")
    if item is not None:
        for v in value.values() if isinstance(value, dict) else value:
            if not isinstance(v, item) or isinstance(v, bool):
                raise TypeError(f"{name!r} holds {v!r}, want only {item.__name__} values")
    return value


def _publish(execution_id, body):
    stream = _stream(OUTBOUND_EVENT)
    try:
        out = _client().put_record(StreamName=stream, Data=json.dumps(body).encode(), PartitionKey=execution_id)
    except Exception as err:
        _log(execution_id, f"ERROR publishing {OUTBOUND_EVENT} to stream {stream}: {err}")
        raise
    _log(execution_id, f"published {OUTBOUND_EVENT} to stream {stream} as record {out.get('SequenceNumber')}: {_short(json.dumps(body))}")


def _stream(event):
    """The stream of an event: XFLOW_STREAM_<EVENT> as xflow sets it, else
    the event name after xflow's optional name prefix."""
    var = "XFLOW_STREAM_" + re.sub(r"[^A-Za-z0-9_]", "_", event).upper()
    return os.environ.get(var) or os.environ.get("XFLOW_NAME_PREFIX", "") + event


def _client():
    global _kinesis
    if _kinesis is None:
        # Imported here so that the steps can be tested without boto3. The
        # client honours AWS_ENDPOINT_URL(_KINESIS), the region and the
        # credentials of the environment.
        import boto3
        from botocore.config import Config

        _kinesis = boto3.client("kinesis", config=Config(retries={"mode": "standard"}))
    return _kinesis


def _fail(execution_id, seq, why, cause=None):
    msg = f"cannot process {INBOUND_EVENT} record {seq}: {why}"
    _log(execution_id, "ERROR " + msg)
    raise RecordError(f"{FUNCTION} execution_id={execution_id}: {msg}") from cause


def _log(execution_id, msg):
    # `xflow track` finds a function's lines for one execution by this token.
    print(f"[{FUNCTION}] execution_id={execution_id} {msg}", flush=True)


def _short(text, limit=2000):
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
