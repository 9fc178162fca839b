"""The ASGI middlewares around every route: caller, request log and metrics, body limit."""
