"""What the Lambda functions share: the HTTP API resolver with one error shape, request and
response models, observability. Uses aws-lambda-powertools and pydantic; the pure domain
modules never import this package."""

from regiongate.api import lazy_packages

# Before any module of this package imports Powertools' resolver (a cold-start saving).
lazy_packages.install()
