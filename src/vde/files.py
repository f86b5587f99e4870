"""Files vde creates that hold secrets: created readable by their owner only.

The SQLite database holds the session key and password hashes, the block cache holds
sensors' data: any local user able to read them could forge an admin cookie or read the
fleet's consumption. SQLite gives its ``-wal`` and ``-shm`` files the mode of the database
file, so creating the database 0600 covers them too.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Mode of files vde creates: read and write for the owner only.
PRIVATE_MODE = 0o600


def create_private(path: str | Path) -> None:
    """Create ``path`` empty with mode 0600 when it does not exist; leave it otherwise.

    Raises OSError when the file cannot be created (the caller names the file).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(fd)
