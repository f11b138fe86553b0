"""lambda_reader, the first step of the word count: on FileUploaded
{"execution_id", "message"} it publishes FileDownloaded {"execution_id",
"contents"}, the uploaded message being the file's text. Ported from the
original xFlow's examples/wordcount/lambda_reader.py (Python 2.7).
"""

from wordcount_common import handle


def download(event):
    """The step: the uploaded message is the file's contents."""
    return {"contents": event["message"]}


def read(event, context):  # the handler xflow.yaml names
    return handle(event, download, "lambda_reader", "FileDownloaded")
