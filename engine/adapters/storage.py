"""Where rendered letters live on disk: STORAGE_DIR/orders/<order>/<recipient>.pdf."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def letter_path(self, order_id: uuid.UUID, recipient_id: uuid.UUID) -> Path:
        return self.root / "orders" / str(order_id) / f"{recipient_id}.pdf"

    def write_atomic(self, path: Path, data: bytes) -> Path:
        """Write via a temporary file and rename, so a crash never leaves half a PDF."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + f".{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return path
