#!/usr/bin/python3
"""attncc_ref: write weights and reference results from a PyTorch model for attncc.

attncc compiles a model written in its Lua DSL (docs/DSL.md) to C.  To check the
compiled model against the PyTorch original you need two safetensors files:

  weights.safetensors   the module's state_dict (parameters and persistent buffers,
                        with PyTorch's dotted names, e.g. `layers.0.q_layer.weight`)
  ref.safetensors       the inputs the module was run on, named like the Lua
                        model's `input(...)` declarations, and its outputs, named
                        like its `output(...)` declarations

and then:

  attncc check model.lua --weights weights.safetensors --ref ref.safetensors [-D NAME=VALUE ...]
  attncc check model.lua --weights weights.safetensors --ref ref.safetensors --runtime-weights

Usage from Python (this file needs only the standard library, plus torch for
tensors; run it with an interpreter that has torch):

    import sys; sys.path.insert(0, "tools")
    from attncc_ref import export_reference, save_safetensors, load_safetensors

    model = MyModel(...)
    x = torch.randn(2, 16, 64)
    mask = torch.ones(2, 1, 1, 16, dtype=torch.int64)
    export_reference(model, {"x": x, "mask": mask}, "weights.safetensors",
                     "ref.safetensors", output_names=["out", "attn"])

  export_reference(module, inputs, weights_path, ref_path, output_names,
                   call=None, metadata=None) -> dict[str, Tensor]
      Puts the module in eval mode and, under torch.no_grad(), runs
      `module(**inputs)` (or `call(module, inputs)` if `call` is given, e.g.
      `call=lambda m, d: m(d["x"], d["y"])` for positional arguments).  The
      result (a tensor or a tuple/list of tensors) is matched, in order, with
      `output_names`; a None result is skipped (not written).  Writes
      module.state_dict() to weights_path and the inputs plus the outputs to
      ref_path.  Inputs whose value is None are passed to the module but not
      written.  Integer and bool inputs are written as they are (I64 / BOOL);
      attncc converts them.  Returns the dict of written outputs.

  save_safetensors(path, tensors, metadata=None)
      Writes a dict name -> tensor in the safetensors format: 8-byte little-endian
      header length, a JSON header {name: {dtype, shape, data_offsets}} (plus
      "__metadata__" when given, a dict of str -> str), padded with spaces to a
      multiple of 8, then every tensor's contiguous little-endian bytes in the
      dict's order.  Dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL.
      Accepts torch tensors (and numpy arrays when numpy is importable).

  load_safetensors(path, with_metadata=False) -> dict[str, torch.Tensor]
      Reads such a file back (in header order).  With with_metadata=True returns
      (tensors, metadata).

Command line:
  attncc_ref.py dump FILE.safetensors    list the tensors of a file (name, dtype, shape)
  attncc_ref.py                          print this help
"""

import json
import os
import struct
import sys

try:
    import torch
except ImportError:  # load/dump of the header still work without torch
    torch = None

__all__ = ["save_safetensors", "load_safetensors", "read_header", "export_reference"]

# safetensors dtype name -> (torch dtype attribute name, element size)
_ST_DTYPES = {
    "F64": ("float64", 8),
    "F32": ("float32", 4),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "I64": ("int64", 8),
    "I32": ("int32", 4),
    "I16": ("int16", 2),
    "I8": ("int8", 1),
    "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}
_TORCH_TO_ST = {v[0]: k for k, v in _ST_DTYPES.items()}
# numpy dtype names (np.dtype(...).name) -> safetensors
_NUMPY_TO_ST = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
                "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def _tensor_record(t):
    """(dtype string, shape list, little-endian bytes) of a torch tensor or numpy array."""
    if torch is not None and isinstance(t, torch.Tensor):
        t = t.detach().cpu().contiguous()
        tname = str(t.dtype).replace("torch.", "")
        if tname not in _TORCH_TO_ST:
            raise TypeError("save_safetensors: unsupported dtype %s" % t.dtype)
        st = _TORCH_TO_ST[tname]
        shape = list(t.shape)
        if t.numel() == 0:
            return st, shape, b""
        if st == "BF16":  # numpy has no bfloat16: reinterpret the bits
            arr = t.view(torch.int16).numpy()
        else:
            arr = t.numpy()
    else:
        arr = t  # numpy array (or anything with .dtype/.shape/.tobytes)
        import numpy as np
        arr = np.ascontiguousarray(arr)
        if arr.dtype.name not in _NUMPY_TO_ST:
            raise TypeError("save_safetensors: unsupported dtype %s" % arr.dtype)
        st = _NUMPY_TO_ST[arr.dtype.name]
        shape = list(arr.shape)
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and sys.byteorder == "big"):
        arr = arr.byteswap().view(arr.dtype.newbyteorder("<"))
    return st, shape, arr.tobytes()


def save_safetensors(path, tensors, metadata=None):
    """Write dict name -> tensor to `path` in the safetensors format (see module doc)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError("save_safetensors: bad tensor name %r" % (name,))
        st, shape, data = _tensor_record(t)
        header[name] = {"dtype": st, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_header(path):
    """Return (header dict, data start offset) of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError("%s: not a safetensors file (too short)" % path)
        (n,) = struct.unpack("<Q", raw)
        if n > 100 * 1024 * 1024:
            raise ValueError("%s: header length %d is implausible" % (path, n))
        hjson = f.read(n)
        if len(hjson) != n:
            raise ValueError("%s: truncated header" % path)
    return json.loads(hjson.decode("utf-8")), 8 + n


def load_safetensors(path, with_metadata=False):
    """Read a safetensors file into a dict name -> torch.Tensor (header order)."""
    if torch is None:
        raise RuntimeError("load_safetensors needs torch")
    header, start = read_header(path)
    metadata = header.pop("__metadata__", None)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    out = {}
    for name, rec in header.items():
        st = rec["dtype"]
        if st not in _ST_DTYPES:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, st))
        tname, size = _ST_DTYPES[st]
        b, e = rec["data_offsets"]
        shape = [int(s) for s in rec["shape"]]
        numel = 1
        for s in shape:
            numel *= s
        if e - b != numel * size or e > len(data):
            raise ValueError("%s: tensor %s: %d bytes for %s %s" % (path, name, e - b, st, shape))
        dtype = getattr(torch, tname)
        if numel == 0:
            out[name] = torch.empty(shape, dtype=dtype)
            continue
        buf = bytearray(data[b:e])
        if sys.byteorder == "big" and size > 1:
            import numpy as np
            a = np.frombuffer(buf, dtype="<i%d" % size).byteswap()
            buf = bytearray(a.tobytes())
        t = torch.frombuffer(buf, dtype=dtype).clone()
        out[name] = t.reshape(shape)
    if with_metadata:
        return out, metadata
    return out


def _as_tuple(result):
    if isinstance(result, (tuple, list)):
        return tuple(result)
    return (result,)


def export_reference(module, inputs, weights_path, ref_path, output_names, call=None, metadata=None):
    """Run `module` on `inputs` and write weights_path and ref_path (see module doc)."""
    module.eval()
    with torch.no_grad():
        if call is not None:
            result = call(module, inputs)
        else:
            result = module(**inputs)
    results = _as_tuple(result)
    output_names = list(output_names)
    if len(results) != len(output_names):
        raise ValueError("export_reference: the module returned %d outputs but %d names were given (%s)"
                         % (len(results), len(output_names), ", ".join(output_names)))

    weights = {}
    for name, t in module.state_dict().items():
        if isinstance(t, torch.Tensor):
            weights[name] = t.detach().cpu().contiguous().clone()
    save_safetensors(weights_path, weights, metadata)

    ref = {}
    for name, t in inputs.items():
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError("export_reference: input %s is not a tensor" % name)
        ref[name] = t
    outputs = {}
    for name, t in zip(output_names, results):
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError("export_reference: output %s is not a tensor" % name)
        if name in ref:
            raise ValueError("export_reference: output name %s is also an input name" % name)
        outputs[name] = t.detach()
        ref[name] = outputs[name]
    save_safetensors(ref_path, ref, metadata)
    return outputs


def _main(argv):
    if len(argv) == 2 and argv[0] == "dump":
        header, start = read_header(argv[1])
        meta = header.pop("__metadata__", None)
        if meta:
            print("metadata: %s" % json.dumps(meta))
        for name, rec in header.items():
            print("%-40s %-5s %s" % (name, rec["dtype"], rec["shape"]))
        return 0
    print(__doc__.strip())
    return 0 if not argv or argv[0] in ("-h", "--help", "help") else 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
