"""Keeping a long-running process's resident memory flat under glibc's allocator.

Model runtimes (onnxruntime, CTranslate2, torch) allocate and free activation buffers of tens of megabytes for every
page or audio chunk. glibc serves them from its heap once its mmap threshold has crept up (it rises after each
large free, up to 32 MB), and freed heap pages stay resident: RSS then only ever grows. Fixing the threshold low
instead (mallopt) was measured and rejected: OCR took 3× as long, the kernel zeroing fresh pages for each buffer.
"""

from __future__ import annotations

import ctypes


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (after each chunk or page of heavy work)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass

