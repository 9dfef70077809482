"""llama.cpp's own quantizer (llama_model_quantize, the function behind the llama-quantize tool) called through
ctypes on the libllama that node-llama-cpp ships, for test/quant/llama-quantize.test.ts.

    python3 llama_quantize.py LIBDIR IN.gguf OUT.gguf FTYPE [--pure]

FTYPE is a llama_ftype number (2 Q4_0, 3 Q4_1, 7 Q8_0). The struct below is llama_model_quantize_params as
include/llama.h of the same llama.cpp release (v0.4.0, in node-llama-cpp's git bundle) declares it.
"""
import ctypes
import os
import sys


class QuantizeParams(ctypes.Structure):
    _fields_ = [
        ("nthread", ctypes.c_int32),
        ("ftype", ctypes.c_int),
        ("output_tensor_type", ctypes.c_int),
        ("token_embedding_type", ctypes.c_int),
        ("allow_requantize", ctypes.c_bool),
        ("quantize_output_tensor", ctypes.c_bool),
        ("only_copy", ctypes.c_bool),
        ("pure", ctypes.c_bool),
        ("keep_split", ctypes.c_bool),
        ("dry_run", ctypes.c_bool),
        ("imatrix", ctypes.c_void_p),
        ("kv_overrides", ctypes.c_void_p),
        ("tt_overrides", ctypes.c_void_p),
        ("prune_layers", ctypes.c_void_p),
        ("max_buf_size", ctypes.c_size_t),
    ]


libdir, src, dst, ftype = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for dep in ("libggml-base.so", "libggml.v0.4.0.so"):
    ctypes.CDLL(os.path.join(libdir, dep), mode=ctypes.RTLD_GLOBAL)
lib = ctypes.CDLL(os.path.join(libdir, "libllama.v0.4.0.so"))
lib.llama_model_quantize_default_params.restype = QuantizeParams
lib.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(QuantizeParams)]
lib.llama_model_quantize.restype = ctypes.c_uint32
lib.llama_backend_init()
params = lib.llama_model_quantize_default_params()
params.nthread = 1
params.ftype = ftype
params.pure = "--pure" in sys.argv[5:]
rc = lib.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
sys.exit(rc)
