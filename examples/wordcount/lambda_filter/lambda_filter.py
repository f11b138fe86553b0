"""lambda_filter keeps the words, without their non-letters: on FileParsed
{"execution_id", "words_arr"} it publishes FileFiltered {"execution_id",
"words_filtered"}, each word stripped of every character that is not an
ASCII letter and kept when two letters or more remain. Ported from the
original xFlow's examples/wordcount/lambda_filter.py (Python 2.7).
"""

import re

from wordcount_common import handle


def filter_words(event):
    """The step: "x-ray" becomes "xray"; "42", "a" and "I" are not words."""
    words = (re.sub("[^A-Za-z]", "", word) for word in event["words_arr"])
    return {"words_filtered": [word for word in words if len(word) >= 2]}


def filter_out_non_words(event, context):  # the handler xflow.yaml names
    return handle(event, filter_words, "lambda_filter", "FileFiltered")
