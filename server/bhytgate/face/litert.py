"""One LiteRT interpreter: the MediaPipe models (mesh, iris, BlazeFace) run through this.

A LiteRT interpreter is not safe to call from two threads at once, so each call holds the model's
lock (measured without it: wrong points and untyped errors). One thread per interpreter: a worker
process is one core's worth of face work.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt


class LiteNet:
    """One LiteRT interpreter with one input, one thread, one call at a time (its lock)."""

    def __init__(self, model: bytes) -> None:
        from ai_edge_litert.interpreter import Interpreter

        # From the bytes that were checked against the pin, not from the path again.
        self._it: Any = Interpreter(model_content=model, num_threads=1)
        self._it.allocate_tensors()
        self._input = self._it.get_input_details()[0]["index"]
        self._outputs = {d["name"]: d["index"] for d in self._it.get_output_details()}
        self._lock = threading.Lock()

    def run(self, image: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
        with self._lock:
            self._it.set_tensor(self._input, image[None])
            self._it.invoke()
            return {name: np.array(self._it.get_tensor(i)) for name, i in self._outputs.items()}
