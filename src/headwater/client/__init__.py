"""Python client for the REST API."""

from headwater.client.rest_client import OperationFailed, RestClient, RestError

__all__ = ["OperationFailed", "RestClient", "RestError"]
