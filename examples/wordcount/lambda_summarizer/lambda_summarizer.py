"""lambda_summarizer, the last step of the word count: on FileAggregated
{"execution_id", "words_aggregated"} it prints and publishes FileSummarized
{"execution_id", "summary"}, the summary being {"total": the number of
distinct words, "counts": word -> count}. Ported from the original xFlow's
examples/wordcount/lambda_summarizer.py (Python 2.7).
"""

import json

from wordcount_common import handle


def summarize_counts(event):
    """The step: the summary, printed in the function's log."""
    counts = event["words_aggregated"]
    summary = {"total": len(counts), "counts": counts}
    print(f"[lambda_summarizer] execution_id={event['execution_id']} summary: {json.dumps(summary)}")
    return {"summary": summary}


def summarize(event, context):  # the handler xflow.yaml names
    return handle(event, summarize_counts, "lambda_summarizer", "FileSummarized")
