"""A second subscriber of Checked: logs every execution it sees."""

import base64
import json


def audit(event, context):
    for r in event["Records"]:
        p = json.loads(base64.b64decode(r["kinesis"]["data"]))
        print(f"audit execution_id={p['execution_id']} sequence={r['kinesis']['sequenceNumber']}")
