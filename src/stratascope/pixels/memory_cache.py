"""An in-memory LRU of decoded chunks, bounded in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np


class ChunkLRU:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[object, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> np.ndarray | None:
        with self._lock:
            array = self._items.get(key)
            if array is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return array

    def put(self, key, array: np.ndarray) -> None:
        if array.nbytes > self.max_bytes:
            return
        array.flags.writeable = False  # shared between requests: nobody may modify it
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            self._items[key] = array
            self.nbytes += array.nbytes
            while self.nbytes > self.max_bytes and self._items:
                _, evicted = self._items.popitem(last=False)
                self.nbytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)
