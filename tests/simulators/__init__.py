"""Stateful stand-ins for Lidarr and slskd: real HTTP servers on a free local port,
answering the endpoints this service calls the way the real ones do (status codes,
error-body forms, auth), with state that tests can inspect and change."""
