"""xflow's Lambda runtime for Python handlers in local mode.

The local runtime starts this file with the handler's Python as a warm
worker. It loads the handler (_HANDLER, module.function, from
LAMBDA_TASK_ROOT) once, then asks the Lambda Runtime API at
AWS_LAMBDA_RUNTIME_API for invocations, one at a time, and calls
handler(event, context) for each, as AWS's Python runtime does: same
context object, same error document (errorMessage, errorType,
stackTrace), same "[ERROR] ..." log entry with the traceback, whose lines
are joined with carriage returns so that the log keeps it as one event.
It uses the standard library only.
"""

import decimal
import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback

API = "/2018-06-01/runtime"

_request_id = None


class LambdaContext:
    """What Lambda's Python runtime hands a handler as its context."""

    def __init__(self, request_id, deadline_ms, invoked_function_arn):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _LogHandler(logging.Handler):
    """Lambda's format for the logging module, one log event per record."""

    def emit(self, record):
        try:
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            msg = self.format(record)
            line = f"[{record.levelname}]\t{ts}.{int(record.msecs):03d}Z\t{_request_id}\t{msg}"
            sys.stdout.write(line.replace("\n", "\r") + "\n")
        except Exception:
            self.handleError(record)


def _setup_logging():
    root = logging.getLogger()
    handler = _LogHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)


def _error(err_type, message, tb=None):
    doc = {"errorMessage": message, "errorType": err_type, "requestId": _request_id or "", "stackTrace": []}
    if tb is not None:
        # The user's frames only, as Lambda shows them: not this file's, nor
        # the import machinery's.
        frames = [f for f in traceback.extract_tb(tb) if f.filename != __file__ and not f.filename.startswith("<frozen ")]
        doc["stackTrace"] = traceback.format_list(frames)
    return doc


def _log_error(doc):
    """Prints an error as Lambda's Python runtime does."""
    head = "[ERROR]"
    if doc.get("errorType"):
        head += " " + doc["errorType"] + ":"
    if doc.get("errorMessage"):
        head += " " + doc["errorMessage"]
    lines = [head]
    if doc.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        for element in doc["stackTrace"]:
            lines.extend(element.splitlines() or [""])
    sys.stdout.flush()
    sys.stdout.write("\r".join(lines).replace("\n", "\r") + "\n")
    sys.stdout.flush()


def _load(name):
    """The handler function, or raises _InitError."""
    module_name, sep, func_name = name.rpartition(".")
    if not sep or not module_name or not func_name:
        raise _InitError("Runtime.MalformedHandlerName", f"Bad handler '{name}': not enough values to unpack (expected 2, got 1)")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as e:
        raise _InitError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}", e.__traceback__)
    except ImportError as e:
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}", e.__traceback__)
    except Exception as e:
        raise _InitError(type(e).__name__, str(e), e.__traceback__)
    handler = getattr(module, func_name, None)
    if handler is None:
        raise _InitError("Runtime.HandlerNotFound", f"Handler '{func_name}' missing on module '{module_name}'")
    return handler


class _InitError(Exception):
    def __init__(self, err_type, message, tb=None):
        super().__init__(message)
        self.doc = _error(err_type, message, tb)


def _json_default(o):
    if isinstance(o, decimal.Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


class _Client:
    """The Runtime API over one kept-alive connection."""

    def __init__(self, address):
        self.address = address
        self.conn = http.client.HTTPConnection(address)

    def call(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            try:
                self.conn.request(method, API + path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                return resp, resp.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                # The runtime closed an idle connection, or is gone.
                self.conn.close()
                if attempt == 2:
                    raise
                self.conn = http.client.HTTPConnection(self.address)

    def post(self, path, doc, error_type=None):
        body = json.dumps(doc, default=_json_default).encode()
        headers = {"Content-Type": "application/json"}
        if error_type:
            headers["Lambda-Runtime-Function-Error-Type"] = error_type
        self.call("POST", path, body, headers)


def main():
    global _request_id
    # Lambda's Python runtime writes stdout unbuffered; line buffering keeps
    # each print one log event, in order with the runtime's own lines.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    client = _Client(os.environ["AWS_LAMBDA_RUNTIME_API"])
    # As on Lambda: the function's package first, then the runtime's boto3.
    # xflow starts Python with -S, so nothing of this machine's
    # site-packages is on the path.
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    sdk = os.environ.get("XFLOW_AWS_SDK_PYTHON")
    if sdk:
        sys.path.insert(1, sdk)
    _setup_logging()
    try:
        handler = _load(os.environ["_HANDLER"])
    except _InitError as e:
        _log_error(e.doc)
        client.post("/init/error", e.doc, "Unhandled")
        sys.exit(1)

    while True:
        try:
            resp, body = client.call("GET", "/invocation/next")
        except OSError:
            sys.exit(0)  # the runtime stopped
        if resp.status != 200:
            sys.exit(0)
        _request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        deadline = int(resp.getheader("Lambda-Runtime-Deadline-Ms") or 0)
        arn = resp.getheader("Lambda-Runtime-Invoked-Function-Arn")
        trace = resp.getheader("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        context = LambdaContext(_request_id, deadline, arn)
        try:
            event = json.loads(body)
            result = handler(event, context)
            out = json.dumps(result, default=_json_default).encode()
        except Exception as e:
            doc = _error(type(e).__name__, str(e), e.__traceback__)
            _log_error(doc)
            client.post(f"/invocation/{_request_id}/error", doc, "Unhandled")
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        client.call("POST", f"/invocation/{_request_id}/response", out, {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
