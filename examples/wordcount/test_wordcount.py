"""Tests of the wordcount example's five functions.

StepsTest, HandlersTest and ClientTest need no network and no boto3: the
Kinesis client is replaced by a recorder. MotoEndToEndTest runs the whole
workflow on the Kinesis of an AWS emulator (moto_server, started by
scripts/test and .ci/run) the way Lambda would: it reads each stream and
hands its records, in the exact event Lambda delivers, to the function that
subscribes to it. It skips without AWS_ENDPOINT_URL, unless
XFLOW_REQUIRE_MOTO is set (the Go test sets it, after deciding itself
whether to skip).

Each function is a folder, and their shared helper the package
wordcount_common, which xflow's build installs into each function's
package; here they are put on the path instead.

Run with: python3 -m unittest -v test_wordcount (in this folder).
"""

import base64
import contextlib
import io
import json
import os
import sys
import time
import types
import unittest
import uuid
from unittest import mock

_HERE = os.path.dirname(os.path.abspath(__file__))
for _folder in ["wordcount_common", "lambda_reader", "lambda_parser", "lambda_filter", "lambda_aggregator", "lambda_summarizer"]:
    sys.path.insert(0, os.path.join(_HERE, _folder))

import wordcount_common  # noqa: E402
import lambda_aggregator  # noqa: E402
import lambda_filter  # noqa: E402
import lambda_parser  # noqa: E402
import lambda_reader  # noqa: E402
import lambda_summarizer  # noqa: E402

# The workflow in order: (module, step, handler, event it listens on, event it emits).
STEPS = [
    (lambda_reader, lambda_reader.download, lambda_reader.read, "FileUploaded", "FileDownloaded"),
    (lambda_parser, lambda_parser.split_words, lambda_parser.parse, "FileDownloaded", "FileParsed"),
    (lambda_filter, lambda_filter.filter_words, lambda_filter.filter_out_non_words, "FileParsed", "FileFiltered"),
    (lambda_aggregator, lambda_aggregator.count_words, lambda_aggregator.aggregate, "FileFiltered", "FileAggregated"),
    (lambda_summarizer, lambda_summarizer.summarize_counts, lambda_summarizer.summarize, "FileAggregated",
     "FileSummarized"),
]
EVENTS = ["FileUploaded"] + [s[4] for s in STEPS]

# The original README's tracked run: "This is a test" ends with three words.
ORIGINAL = {
    "FileUploaded": {"execution_id": "abc123", "message": "This is a test"},
    "FileDownloaded": {"execution_id": "abc123", "contents": "This is a test"},
    "FileParsed": {"execution_id": "abc123", "words_arr": ["This", "is", "a", "test"]},
    "FileFiltered": {"execution_id": "abc123", "words_filtered": ["This", "is", "test"]},
    "FileAggregated": {"execution_id": "abc123", "words_aggregated": {"This": 1, "is": 1, "test": 1}},
    "FileSummarized": {"execution_id": "abc123", "summary": {"total": 3, "counts": {"This": 1, "is": 1, "test": 1}}},
}

# A text with punctuation, digits, one-letter words, case and repeats.
TEXT = "The cat and the hat.\nThe CAT, a hat!  42  x-ray I\tcat's"
COUNTS = {"The": 2, "cat": 1, "and": 1, "the": 1, "hat": 2, "CAT": 1, "xray": 1, "cats": 1}
TEXT_EVENTS = {
    "FileUploaded": {"execution_id": "ex2", "message": TEXT},
    "FileDownloaded": {"execution_id": "ex2", "contents": TEXT},
    "FileParsed": {
        "execution_id": "ex2",
        "words_arr": ["The", "cat", "and", "the", "hat.", "The", "CAT,", "a", "hat!", "42", "x-ray", "I", "cat's"],
    },
    "FileFiltered": {
        "execution_id": "ex2",
        "words_filtered": ["The", "cat", "and", "the", "hat", "The", "CAT", "hat", "xray", "cats"],
    },
    "FileAggregated": {"execution_id": "ex2", "words_aggregated": COUNTS},
    "FileSummarized": {"execution_id": "ex2", "summary": {"total": 8, "counts": COUNTS}},
}


def kinesis_record(data, partition_key, seq, stream="stream", arrival=None):
    """One record as Lambda delivers it from Kinesis (bytes or JSON-able data)."""
    if not isinstance(data, bytes):
        data = json.dumps(data).encode()
    region = os.environ.get("AWS_REGION", "us-east-1")
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": arrival if arrival is not None else time.time(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
        "awsRegion": region,
        "eventSourceARN": f"arn:aws:kinesis:{region}:123456789012:stream/{stream}",
    }


def lambda_event(*events):
    return {
        "Records": [
            kinesis_record(e, e.get("execution_id", "none"), f"4959{i:040d}") for i, e in enumerate(events)
        ]
    }


class RecordingKinesis:
    """Stands in for the boto3 Kinesis client."""

    def __init__(self):
        self.calls = []

    def put_record(self, **kwargs):
        self.calls.append(kwargs)
        return {"ShardId": "shardId-000000000000", "SequenceNumber": str(len(self.calls))}

    def sent(self):
        return [json.loads(c["Data"]) for c in self.calls]


class StepsTest(unittest.TestCase):
    """The steps alone: what each one makes of a known text."""

    def test_known_texts(self):
        for run in (ORIGINAL, TEXT_EVENTS):
            for module, step, _, inbound, outbound in STEPS:
                with self.subTest(module.__name__, text=run["FileUploaded"]["message"]):
                    with contextlib.redirect_stdout(io.StringIO()):  # the summarizer prints
                        got = step(run[inbound])
                    self.assertEqual({"execution_id": run[inbound]["execution_id"], **got}, run[outbound])

    def test_filter(self):
        cases = [("hat.", ["hat"]), ("x-ray", ["xray"]), ("42", []), ("café", ["caf"]), ("Don't", ["Dont"]),
                 ("a", []), ("I.", []), ("an", ["an"]), ("", [])]
        for word, want in cases:
            self.assertEqual(lambda_filter.filter_words({"words_arr": [word]}), {"words_filtered": want}, word)

    def test_empty_text(self):
        self.assertEqual(lambda_parser.split_words({"contents": "  \n "}), {"words_arr": []})
        with contextlib.redirect_stdout(io.StringIO()):
            summary = lambda_summarizer.summarize_counts({"execution_id": "e", "words_aggregated": {}})
        self.assertEqual(summary, {"summary": {"total": 0, "counts": {}}})


class HandlerCase(unittest.TestCase):
    def setUp(self):
        self.kinesis = RecordingKinesis()
        patcher = mock.patch.object(wordcount_common, "_kinesis", self.kinesis)
        patcher.start()
        self.addCleanup(patcher.stop)
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        for var in list(os.environ):
            if var.startswith("XFLOW_"):
                del os.environ[var]

    def run_handler(self, handler, event):
        """Runs handler; returns (its result or the exception, log lines)."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                result = handler(event, None)
            except Exception as err:  # noqa: BLE001 - returned to the test
                result = err
        # Lines end with "\n" alone: "\r" is within a line, as Lambda logs it.
        return result, out.getvalue().split("\n")[:-1]


class HandlersTest(HandlerCase):
    def test_each_handler_publishes_the_next_event(self):
        for module, _, handler, inbound, outbound in STEPS:
            with self.subTest(module.__name__):
                self.kinesis.calls.clear()
                result, lines = self.run_handler(handler, lambda_event(ORIGINAL[inbound]))
                self.assertEqual(result, {"batchItemFailures": []}, lines)
                (call,) = self.kinesis.calls
                self.assertEqual(call["StreamName"], outbound)
                self.assertEqual(call["PartitionKey"], "abc123")
                self.assertEqual(json.loads(call["Data"]), ORIGINAL[outbound])
                log = f"[{module.__name__}] execution_id=abc123 "
                self.assertIn(f"{log}published {outbound} to {outbound} as 1", lines)
                for line in lines:
                    self.assertTrue(line.startswith(log), line)

    def test_seed_example_through_every_handler(self):
        # The README's publish example.
        event = {"execution_id": "ex1", "message": "Test with ccc"}
        for _, _, handler, _, _ in STEPS:
            self.kinesis.calls.clear()
            self.run_handler(handler, lambda_event(event))
            (event,) = self.kinesis.sent()
        summary = {"total": 3, "counts": {"Test": 1, "with": 1, "ccc": 1}}
        self.assertEqual(event, {"execution_id": "ex1", "summary": summary})

    def test_summarizer_prints_the_summary(self):
        _, lines = self.run_handler(lambda_summarizer.summarize, lambda_event(ORIGINAL["FileAggregated"]))
        prefix = "[lambda_summarizer] execution_id=abc123 summary: "
        summary = [line[len(prefix):] for line in lines if line.startswith(prefix)]
        self.assertEqual(len(summary), 1, lines)
        self.assertEqual(json.loads(summary[0]), ORIGINAL["FileSummarized"]["summary"])

    def test_every_record_of_a_batch(self):
        # The original parser returned after the first record.
        events = [{"execution_id": f"ex{i}", "contents": f"word{i} again"} for i in range(3)]
        result, lines = self.run_handler(lambda_parser.parse, lambda_event(*events))
        self.assertEqual(result, {"batchItemFailures": []})
        want = [{"execution_id": f"ex{i}", "words_arr": [f"word{i}", "again"]} for i in range(3)]
        self.assertEqual(self.kinesis.sent(), want)
        self.assertEqual([c["PartitionKey"] for c in self.kinesis.calls], ["ex0", "ex1", "ex2"])
        self.assertEqual([line.split()[1] for line in lines], [f"execution_id=ex{i}" for i in range(3)])

    def test_stream_name_from_environment(self):
        # XFLOW_STREAM_<EVENT> as names.StreamEnvVar makes it: upper case,
        # anything but letters and digits -> _; else the prefix and the event.
        cases = [
            ("FileDownloaded", {}, "FileDownloaded"),
            ("FileDownloaded", {"XFLOW_NAME_PREFIX": "dev_"}, "dev_FileDownloaded"),
            ("FileDownloaded", {"XFLOW_STREAM_FILEDOWNLOADED": "my-stream", "XFLOW_NAME_PREFIX": "dev_"}, "my-stream"),
            ("File-Uploaded.v2", {"XFLOW_STREAM_FILE_UPLOADED_V2": "s"}, "s"),
        ]
        for emits, env, want in cases:
            with self.subTest(env=env), mock.patch.dict(os.environ, env):
                self.kinesis.calls.clear()
                event = lambda_event(ORIGINAL["FileUploaded"])
                self.run_handler(lambda e, c: lambda_reader.handle(e, lambda_reader.download, "f", emits), event)
                self.assertEqual(self.kinesis.calls[0]["StreamName"], want)

    def test_bad_records_raise_after_logging_the_execution_id(self):
        # A good record first: it is published, then the bad one fails the batch.
        # Each bad record has partition key pk9: the execution id of a record
        # that cannot be decoded.
        cases = [
            ("missing field", {"execution_id": "ex7", "words": []}, "ex7", "KeyError: 'words_arr'"),
            ("not words", {"execution_id": "ex7", "words_arr": ["ab", 3]}, "ex7", "TypeError: "),
            ("no execution_id", {"words_arr": []}, "pk9", "KeyError: 'execution_id'"),
            ("not JSON", b"{oops", "pk9", "JSONDecodeError: "),
            ("not an object", [1, 2], "pk9", "TypeError: list indices"),
        ]
        for name, data, execution_id, why in cases:
            with self.subTest(name):
                self.kinesis.calls.clear()
                records = [kinesis_record(ORIGINAL["FileParsed"], "abc123", "0"), kinesis_record(data, "pk9", "1")]
                result, lines = self.run_handler(lambda_filter.filter_out_non_words, {"Records": records})
                self.assertIsInstance(result, Exception)  # raised: Lambda retries the batch
                self.assertEqual(len(self.kinesis.calls), 1)
                self.assertEqual(len(lines), 2, lines)  # the good record's, then one line for the bad one
                want = f"[lambda_filter] execution_id={execution_id} [ERROR] {why}"
                self.assertTrue(lines[1].startswith(want), lines)
                self.assertIn("\rTraceback (most recent call last):\r", lines[1])

    def test_publish_failure_is_logged_and_raised(self):
        self.kinesis.put_record = mock.Mock(side_effect=RuntimeError("ResourceNotFoundException:\nno stream"))
        result, lines = self.run_handler(lambda_reader.read, lambda_event(ORIGINAL["FileUploaded"]))
        self.assertIsInstance(result, RuntimeError)
        (line,) = lines
        error = "[ERROR] RuntimeError: ResourceNotFoundException:\rno stream\rTraceback (most recent call last):\r"
        self.assertTrue(line.startswith("[lambda_reader] execution_id=abc123 " + error), line)

    def test_empty_batch(self):
        self.assertEqual(self.run_handler(lambda_reader.read, {"Records": []}), ({"batchItemFailures": []}, []))


class ClientTest(HandlerCase):
    def test_one_client_per_container(self):
        made = []

        def client(service):
            made.append(service)
            return self.kinesis

        with mock.patch.dict(sys.modules, {"boto3": types.SimpleNamespace(client=client)}):
            for module, _, handler, inbound, _ in STEPS:
                # Each function runs in its own container, with its own client.
                with mock.patch.object(wordcount_common, "_kinesis", None):
                    for _ in range(2):
                        result, lines = self.run_handler(handler, lambda_event(ORIGINAL[inbound]))
                        self.assertEqual(result, {"batchItemFailures": []}, lines)
        self.assertEqual(made, ["kinesis"] * len(STEPS))
        self.assertEqual(len(self.kinesis.calls), 2 * len(STEPS))


def require_moto(test):
    """Skips test without an emulator, unless XFLOW_REQUIRE_MOTO says to fail."""
    missing = None
    if not os.environ.get("AWS_ENDPOINT_URL"):
        missing = "AWS_ENDPOINT_URL is not set (scripts/test starts moto_server and sets it)"
    else:
        try:
            import boto3  # noqa: F401
        except ImportError:
            missing = "boto3 is not installed (pip install boto3)"
    if missing is None:
        return test
    if os.environ.get("XFLOW_REQUIRE_MOTO"):
        return lambda self: self.fail(missing)
    return unittest.skip("SKIP: " + missing)(test)


class MotoEndToEndTest(unittest.TestCase):
    """The workflow on moto's Kinesis, streams named with a unique prefix."""

    @require_moto
    def test_workflow_on_kinesis(self):
        import boto3

        for var, default in [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")]:
            os.environ.setdefault(var, default)
        os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))

        prefix = f"wc{uuid.uuid4().hex[:8]}_"
        kinesis = boto3.client("kinesis")
        streams = {e: prefix + e for e in EVENTS}
        for name in streams.values():
            kinesis.create_stream(StreamName=name, ShardCount=1)
            self.addCleanup(kinesis.delete_stream, StreamName=name, EnforceConsumerDeletion=True)
        for name in streams.values():
            kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})

        # The handlers find their streams the way xflow tells them, and make
        # their own clients from the environment (the emulator's endpoint).
        env = {f"XFLOW_STREAM_{e.upper()}": name for e, name in streams.items()}
        patches = [mock.patch.dict(os.environ, env)]
        patches += [mock.patch.object(wordcount_common, "_kinesis", None)]
        for p in patches:
            p.start()
            self.addCleanup(p.stop)

        # Two executions side by side: the original's and the seed's.
        uploads = [ORIGINAL["FileUploaded"], {"execution_id": "ex1", "message": "Test with ccc ccc"}]
        for event in uploads:  # as `xflow publish` does
            kinesis.put_record(
                StreamName=streams["FileUploaded"], Data=json.dumps(event).encode(), PartitionKey=event["execution_id"]
            )

        log = io.StringIO()
        for module, _, handler, inbound, _ in STEPS:
            records = read_stream(kinesis, streams[inbound])
            self.assertEqual(len(records), 2, f"{inbound} holds {len(records)} records, want 2")
            event = {"Records": [lambda_record(r, streams[inbound]) for r in records]}
            with contextlib.redirect_stdout(log):
                result = handler(event, None)
            self.assertEqual(result, {"batchItemFailures": []}, module.__name__)

        final = {}
        for r in read_stream(kinesis, streams["FileSummarized"]):
            event = json.loads(r["Data"])
            self.assertEqual(r["PartitionKey"], event["execution_id"])
            final[event["execution_id"]] = event
        self.assertEqual(
            final,
            {
                "abc123": ORIGINAL["FileSummarized"],
                "ex1": {"execution_id": "ex1", "summary": {"total": 3, "counts": {"Test": 1, "with": 1, "ccc": 2}}},
            },
        )
        for line in log.getvalue().splitlines():
            self.assertRegex(line, r"^\[lambda_\w+\] execution_id=(abc123|ex1) ")


def read_stream(kinesis, stream):
    """Every record of a one-shard stream, oldest first."""
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = []
    while it:
        out = kinesis.get_records(ShardIterator=it, Limit=1000)
        records += out["Records"]
        if not out["Records"] or out.get("MillisBehindLatest", 0) == 0:
            break
        it = out.get("NextShardIterator")
    return records


def lambda_record(r, stream):
    """A record read with GetRecords, as Lambda hands it to a function."""
    return kinesis_record(
        r["Data"], r["PartitionKey"], r["SequenceNumber"], stream, r["ApproximateArrivalTimestamp"].timestamp()
    )


if __name__ == "__main__":
    unittest.main()
