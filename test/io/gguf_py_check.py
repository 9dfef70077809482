"""gguf-py (llama.cpp's Python GGUF library) on the other side of tinylm's GGUF code, for test/io/gguf-py.test.ts.

    python3 gguf_py_check.py write OUT.gguf   writes a file with every value type and F32/F16/Q8_0/Q4_0/Q4_1 tensors,
                                              prints what it wrote as JSON
    python3 gguf_py_check.py read IN.gguf     prints gguf-py's view of a file (keys, tensors, f32 values) as JSON

gguf-py comes from the llama.cpp git bundle that node-llama-cpp ships (PYTHONPATH set by the test); it needs numpy
and PyYAML.
"""
import json
import sys

import numpy as np
import gguf
from gguf.constants import GGMLQuantizationType as Q


def tensor_values(t: np.ndarray) -> list:
    return [float(x) for x in t.astype(np.float64).ravel()]


def write(path: str) -> None:
    w = gguf.GGUFWriter(path, "llama")  # adds general.architecture = "llama"
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -5)
    w.add_uint16("t.u16", 0x1234)
    w.add_int16("t.i16", -2)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -123456)
    w.add_float32("t.f32", 1e-5)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "tést ✓")
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -7)
    w.add_float64("t.f64", 3.141592653589793)
    w.add_array("t.strs", ["<unk>", "\ufeff", "▁the", ""])
    w.add_key_value("t.f32s", [0.0, -1.5, 2.25], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.FLOAT32)
    w.add_key_value("t.i32s", [2, 1, -1], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32)

    rng = np.random.default_rng(7)
    f32 = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    f16 = (rng.standard_normal((2, 8)) * 100).astype(np.float16)
    w.add_tensor("a.f32", f32)
    w.add_tensor("b.f16", f16)
    quantized = {}
    for name, qtype, shape in [("c.q8_0", Q.Q8_0, (2, 64)), ("d.q4_0", Q.Q4_0, (1, 64)), ("e.q4_1", Q.Q4_1, (3, 32))]:
        x = rng.standard_normal(shape).astype(np.float32)
        q = gguf.quants.quantize(x, qtype)
        w.add_tensor(name, q, raw_dtype=qtype)
        quantized[name] = q.tobytes().hex()
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(json.dumps({"f32": tensor_values(f32), "f16": tensor_values(f16), "quantized": quantized}))


def read(path: str) -> None:
    r = gguf.GGUFReader(path)
    fields = {}
    for name, f in r.fields.items():
        if name.startswith("GGUF."):
            continue
        types = [t.name for t in f.types]
        if types[0] == "ARRAY":
            if types[1] == "STRING":
                value = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
            else:
                value = [float(f.parts[i][0]) for i in f.data]
        elif types[0] == "STRING":
            value = bytes(f.parts[f.data[0]]).decode("utf-8")
        else:
            value = f.parts[f.data[0]][0].item()
        fields[name] = {"types": types, "value": value}
    tensors = []
    for t in r.tensors:
        entry = {"name": t.name, "type": t.tensor_type.name, "ne": [int(d) for d in t.shape], "offset": int(t.data_offset)}
        if t.tensor_type in (Q.F32, Q.F16):
            entry["values"] = tensor_values(np.asarray(t.data))
        tensors.append(entry)
    print(json.dumps({"alignment": r.alignment, "fields": fields, "tensors": tensors}))


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
