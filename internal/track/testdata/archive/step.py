def handle(event, context):
    """A step of the test workflows; moto never runs it."""
    return None
