def take(event, context):
    return None


def bill(event, context):
    return None
