"""One Lambda execution environment, in a subprocess: Zappa's real handler, fed events.

Run it with ``python -S -I lambda_driver.py --path DIR [--path DIR...] [--handler MODULE]``:
like Lambda's Python bootstrap it puts the task root (and whatever else Lambda provides) on
sys.path and imports the handler module (``handler``, the zip's; ``zappa.handler`` in the image)
from there, nothing from site-packages. It then reads one JSON request per line on
stdin and answers one JSON line on the protocol pipe (the original stdout; the handler's own
prints and logs go to stderr, as they go to CloudWatch on Lambda):

    {"event": {...}}       -> {"response": ..., "seconds": float} or {"error": "..."}
    {"op": "modules"}      -> {"modules": {name: file or null} of every module imported so far}
    {"op": "compiled"}     -> {"compiled": [every .py file compiled from source so far]}
    {"op": "exit"}         -> the process ends

The first line it writes is {"ready": seconds_to_import_the_handler_module}.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid

STARTED = time.perf_counter()
COMPILED: list[str] = []


def _record_compiles(event: str, args: tuple) -> None:
    # The import system calls compile() only for a module whose bytecode it could not use.
    if event == "compile" and isinstance(args[1], str) and args[1].endswith(".py"):
        COMPILED.append(args[1])


if "--audit-compiles" in sys.argv:
    sys.addaudithook(_record_compiles)


class LambdaContext:
    """The attributes Lambda's context object has that Zappa and the app may read."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/01/01/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    args = sys.argv[1:]
    paths = [args[i + 1] for i, flag in enumerate(args) if flag == "--path"]
    handler_module = next(
        (args[i + 1] for i, flag in enumerate(args) if flag == "--handler"), "handler"
    )
    task_root = paths[0]
    sys.path[:0] = paths
    os.chdir(task_root)

    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(message: dict) -> None:
        protocol.write(json.dumps(message, default=str) + "\n")

    handler = importlib.import_module(handler_module)

    reply({"ready": time.perf_counter() - STARTED})
    function_name = os.environ.get("PORTAL_TEST_FUNCTION_NAME", "portal-dev")
    memory_mb = int(os.environ.get("PORTAL_TEST_MEMORY_MB", "2048"))
    timeout_s = float(os.environ.get("PORTAL_TEST_TIMEOUT_S", "30"))
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("op") == "exit":
            break
        if request.get("op") == "compiled":
            reply({"compiled": COMPILED})
            continue
        if request.get("op") == "modules":
            loaded = dict(sys.modules)
            reply({"modules": {n: getattr(m, "__file__", None) for n, m in loaded.items()}})
            continue
        context = LambdaContext(function_name, memory_mb, timeout_s)
        started = time.perf_counter()
        try:
            response = handler.lambda_handler(request["event"], context)
        except Exception:  # the test reads the traceback; Lambda would log it and fail
            reply({"error": traceback.format_exc(), "seconds": time.perf_counter() - started})
            continue
        reply({"response": response, "seconds": time.perf_counter() - started})
    protocol.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
