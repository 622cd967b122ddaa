"""The sandbox's side of the wire between a student's kernel and the trusted grader.

Copied into every sandbox as `autograder/_sandbox_channel.py`, next to a copy of the harness: a hidden
test cell's `check(name, fn)` asks the trusted grader for the hidden cases of `name` through it, and
sends back what the student's function returned, as plain data. Nothing here judges anything.

Frames are a 4-byte big-endian length and a UTF-8 JSON payload. Arrays travel as raw float64, int64
or bool bytes, so the trusted side never unpickles anything the sandbox wrote.
"""
import base64
import json
import math
import os
import pickle
import struct
import threading

MAX_FRAME = 32 << 20
_fds = {}
_lock = threading.Lock()


def setup(cmd_fd, reply_fd):
    """Called once by the sandbox runner: the descriptors to read commands from and write replies to."""
    _fds["cmd"], _fds["reply"] = cmd_fd, reply_fd


def pack(obj):
    """One frame: the length, then the JSON payload (the trusted side writes its frames with this too)."""
    data = json.dumps(obj, allow_nan=False).encode()
    return struct.pack(">I", len(data)) + data


def write_frame(fd, obj):
    view = memoryview(pack(obj))
    with _lock:  # one frame at a time, whichever thread writes
        while view:
            view = view[os.write(fd, view):]


def read_exact(fd, n):
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            raise EOFError("the grader closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd):
    (n,) = struct.unpack(">I", read_exact(fd, 4))
    if n > MAX_FRAME:
        raise ValueError(f"frame of {n} bytes is too large")
    return json.loads(read_exact(fd, n))


def encode(obj):
    """Plain data (from harness.to_plain) as JSON-safe data: arrays as bytes, non-finite floats as text."""
    import numpy as np

    if isinstance(obj, np.ndarray):
        kind = {"f": "<f8", "i": "<i8", "u": "<i8", "b": "|b1"}.get(obj.dtype.kind)
        if kind is None:
            return {"__unreadable__": f"an array of dtype {obj.dtype}"}
        arr = np.array(obj, dtype=kind, order="C")  # keeps 0-d arrays 0-d
        return {"__nd__": kind, "shape": list(arr.shape), "data": base64.b64encode(arr.tobytes()).decode()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): encode(v) for k, v in obj.items()}
    return obj


def cases(name):
    """The hidden cases of the check `name`, from the trusted grader."""
    write_frame(_fds["reply"], {"type": "cases", "name": name})
    reply = read_frame(_fds["cmd"])
    return pickle.loads(base64.b64decode(reply["data"]))  # written by the trusted grader


def judge(name, results, namespace=None):
    """Send the results to the trusted grader, which judges them after the notebook has run (and stands the
    reference's values in for a function that failed, in the cases of later checks: judge.cases_for)."""
    write_frame(_fds["reply"], {"type": "results", "name": name, "results": encode(results)})
    print(f"{name}: results recorded; the grader compares them with the reference after the run.")
