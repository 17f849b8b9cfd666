"""The AWS side of regiongate: event publishing, the audit store, keys. Uses boto3; the pure
domain modules outside this package never import it."""
