"""The aws backend: deploy a variant with boto3, run it, measure it and tear it down."""
