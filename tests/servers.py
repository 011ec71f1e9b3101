"""Re-exported for tests: the real uvicorn server thread."""

from api.serve import ServerThread, free_port

__all__ = ["ServerThread", "free_port"]
