"""The answer when all else fails."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def internal_error(request: Request, exc: Exception) -> Response:
    """The last resort for an unexpected error: a plain 500 that closes the connection."""
    return JSONResponse(
        {"detail": "Internal Server Error"}, status_code=500, headers={"Connection": "close"}
    )
