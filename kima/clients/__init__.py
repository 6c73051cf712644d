"""Small HTTP clients for the services Kima integrates with (httpx, explicit timeouts)."""
