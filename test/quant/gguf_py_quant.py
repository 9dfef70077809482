"""gguf-py's quantizers (llama.cpp's Python GGUF library) on the other side of tinylm's, for test/quant/gguf-py.test.ts.

    python3 gguf_py_quant.py IN.f32 COLS    quantizes the little-endian f32 matrix in IN.f32 (rows of COLS values) to
                                            Q8_0, Q4_0 and Q4_1 with gguf.quants.quantize and prints the bytes as hex
                                            in a JSON object keyed by type name

gguf-py comes from the llama.cpp git bundle that node-llama-cpp ships (PYTHONPATH set by the test); it needs numpy.
"""
import json
import sys

import numpy as np
from gguf.constants import GGMLQuantizationType as Q
from gguf.quants import quantize

x = np.fromfile(sys.argv[1], dtype="<f4").reshape(-1, int(sys.argv[2]))
with np.errstate(all="ignore"):  # the adversarial blocks overflow and divide by zero on purpose, as C does
    print(json.dumps({t.name: quantize(x, t).tobytes().hex() for t in (Q.Q8_0, Q.Q4_0, Q.Q4_1)}))
