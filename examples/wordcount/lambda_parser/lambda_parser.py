"""lambda_parser splits the file's text into words: on FileDownloaded
{"execution_id", "contents"} it publishes FileParsed {"execution_id",
"words_arr"}, the text split on runs of whitespace. Ported from the original
xFlow's examples/wordcount/lambda_parser.py (Python 2.7).
"""

from wordcount_common import handle


def split_words(event):
    """The step: the words of the text, as str.split() finds them."""
    return {"words_arr": event["contents"].split()}


def parse(event, context):  # the handler xflow.yaml names
    return handle(event, split_words, "lambda_parser", "FileParsed")
