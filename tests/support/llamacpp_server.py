"""A real llama.cpp HTTP server (xllamacpp's ``Server`` with ``hostnames``/``port``), for upstream tests.

    python tests/support/llamacpp_server.py MODEL.gguf PORT [CTX]

Prints ``READY <url>`` once it answers, then serves until killed.
"""

from __future__ import annotations

import sys
import time

import httpx


def main() -> None:
    import xllamacpp

    path, port = sys.argv[1], int(sys.argv[2])
    ctx = int(sys.argv[3]) if len(sys.argv) > 3 else 2048
    p = xllamacpp.CommonParams()
    p.model.path = path
    p.n_parallel = 2
    p.n_ctx = ctx * 2
    p.cpuparams.n_threads = 2
    p.cpuparams_batch.n_threads = 2
    p.use_jinja = True
    p.verbosity = -1
    p.hostnames = ["127.0.0.1"]
    p.port = port
    server = xllamacpp.Server(p)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    print("READY", server.listening_address, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
