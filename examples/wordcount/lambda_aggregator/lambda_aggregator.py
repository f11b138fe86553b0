"""lambda_aggregator groups equal words and counts them: on FileFiltered
{"execution_id", "words_filtered"} it publishes FileAggregated
{"execution_id", "words_aggregated"}, how many times each word occurs,
case-sensitive ("The" and "the" are two words), in order of first
occurrence. Ported from the original xFlow's
examples/wordcount/lambda_aggregator.py (Python 2.7).
"""

from wordcount_common import handle


def count_words(event):
    """The step: word -> number of occurrences."""
    counts = {}
    for word in event["words_filtered"]:
        counts[word] = counts.get(word, 0) + 1
    return {"words_aggregated": counts}


def aggregate(event, context):  # the handler xflow.yaml names
    return handle(event, count_words, "lambda_aggregator", "FileAggregated")
