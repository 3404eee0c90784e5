"""Python client for the REST API."""

from headwater.client.rest_client import RestClient, RestError

__all__ = ["RestClient", "RestError"]
