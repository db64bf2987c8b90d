"""An independent PyTorch implementation of the model IR (src/model/ir.ts), written from the op definitions there.

It serves two purposes: a parity oracle for the tfjs engine (--check), and the PyTorch side of bench/train-step.ts.

The IR's values are per-sample HWC images or [C] vectors. Inside this module images are NCHW, as PyTorch users
expect; IRModel.forward converts at the boundary when channels_last=True (the default, the tfjs/IR layout).
Parameters are already in PyTorch layout in the IR and in our checkpoints, and state_dict() keys are exactly the IR
parameter names, so a checkpoint's `model.` tensors load with the prefix stripped.

Usage:
  /usr/bin/python3 bench/torch/ir_model.py --check DIR [DIR ...] [--tol 1e-4]
    DIR holds ir.json, params.safetensors, input.safetensors and tfjs-output.safetensors (bench/export-ir.ts).
    Prints one line per (case, tfjs backend) and exits 1 if any max abs difference exceeds --tol.

Only the standard library and torch are needed (no `safetensors` package: the format is parsed by hand).
"""

import argparse
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F
from torch import nn

# safetensors dtype -> torch dtype (the ones torch.frombuffer can view).
DTYPES = {
    'F64': torch.float64,
    'F32': torch.float32,
    'F16': torch.float16,
    'BF16': torch.bfloat16,
    'I64': torch.int64,
    'I32': torch.int32,
    'I16': torch.int16,
    'I8': torch.int8,
    'U8': torch.uint8,
    'BOOL': torch.bool,
}


def read_safetensors(path):
    """{name: tensor} of a safetensors file (little-endian host assumed, as on x86 and ARM)."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8 : 8 + n].decode('utf-8'))
    header.pop('__metadata__', None)
    base = 8 + n
    out = {}
    for name, info in header.items():
        dtype = DTYPES.get(info['dtype'])
        if dtype is None:
            raise ValueError(f'{path}: tensor {name!r} has unsupported dtype {info["dtype"]}')
        begin, end = info['data_offsets']
        if end == begin:
            t = torch.empty(0, dtype=dtype)
        else:
            # A writable copy: frombuffer over the read-only bytes would warn and alias the file data.
            t = torch.frombuffer(bytearray(data[base + begin : base + end]), dtype=dtype)
        out[name] = t.reshape(info['shape'])
    return out


def load_ir(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


class IRModel(nn.Module):
    """torch.nn.Module interpreting a ModelIR (the JSON of src/model/ir.ts). Inference and training."""

    def __init__(self, ir, dtype=torch.float32):
        super().__init__()
        self._ir_nodes = ir['nodes']
        self._ir_inputs = ir['inputs']
        self._ir_dtype = dtype
        num_classes = (ir['inputs'].get('label') or {}).get('numClasses')
        self._ir_num_classes = num_classes
        self._ir_params = {}
        for spec in ir['params']:
            p = nn.Parameter(torch.zeros(spec['shape'], dtype=dtype))
            self._register_dotted(spec['name'], p)
            self._ir_params[spec['name']] = p
        known = {'conv2d', 'linear', 'group_norm', 'silu', 'add', 'mul', 'timestep_embedding', 'embedding',
                 'add_broadcast', 'upsample_nearest_2x', 'concat_channels', 'self_attention', 'dropout', 'output'}
        for node in self._ir_nodes:
            if node['op'] not in known:
                raise ValueError(f'unknown IR op {node["op"]!r} (node {node["output"]})')
        outs = [n for n in self._ir_nodes if n['op'] == 'output']
        if len(outs) != 1:
            raise ValueError(f'IR must have exactly one output node, has {len(outs)}')

    @property
    def input_shape(self):
        """Per-sample shape of x in the IR's layout: [H, W, C] or [D]."""
        return list(self._ir_inputs['x']['shape'])

    @property
    def num_classes(self):
        """numClasses of a class-conditional model (label numClasses = null), else None."""
        return self._ir_num_classes

    def _register_dotted(self, name, param):
        # Nested empty modules so that state_dict() keys are the IR's dotted names.
        *path, leaf = name.split('.')
        mod = self
        for part in path:
            child = mod._modules.get(part)
            if child is None:
                child = nn.Module()
                mod.add_module(part, child)
            mod = child
        mod.register_parameter(leaf, param)

    def load_params(self, tensors):
        """Copies IR parameters from {name: tensor}: checkpoint names `model.<param>` or plain `<param>`."""
        if any(k.startswith('model.') for k in tensors):
            tensors = {k[len('model.'):]: v for k, v in tensors.items() if k.startswith('model.')}
        missing = [k for k in self._ir_params if k not in tensors]
        extra = [k for k in tensors if k not in self._ir_params]
        if missing or extra:
            raise ValueError(f'parameters do not match the IR: missing {missing[:5]}, unexpected {extra[:5]}')
        with torch.no_grad():
            for name, p in self._ir_params.items():
                t = tensors[name]
                if list(t.shape) != list(p.shape):
                    raise ValueError(f'parameter {name}: shape {list(t.shape)}, IR says {list(p.shape)}')
                p.copy_(t.to(p.dtype))
        return self

    def forward(self, x, t, label=None, channels_last=True):
        """x: [B, H, W, C] (channels_last) or [B, C, H, W], or [B, D] vectors; t: [B] float timesteps; label: [B]
        ints (negative or numClasses = the null class), None = the null class for all. Returns the output in the
        layout of x."""
        dt = self._ir_dtype
        b = x.shape[0]
        image = x.dim() == 4
        if image and channels_last:
            x = x.permute(0, 3, 1, 2)
        vals = {'x': x.to(dt), 't': t.to(dt)}
        if self._ir_num_classes is not None:
            n = self._ir_num_classes
            if label is None:
                label = torch.full((b,), n, dtype=torch.int64)
            label = label.to(torch.int64)
            label = torch.where(label < 0, torch.full_like(label, n), label)
            if bool((label > n).any()):
                raise ValueError(f'labels must be < {n + 1} (numClasses + null), got {label.max().item()}')
            vals['label'] = label
        elif label is not None:
            raise ValueError('the model is unconditional: pass label=None')

        P = self._ir_params
        out = None
        for node in self._ir_nodes:
            op = node['op']
            a = vals[node['inputs'][0]]
            if op == 'conv2d':
                k = node['kernel']
                y = F.conv2d(a, P[node['params']['weight']], P[node['params']['bias']], stride=node['stride'],
                             padding=k // 2)
            elif op == 'linear':
                y = _linear(a, P[node['params']['weight']], P[node['params']['bias']])
            elif op == 'group_norm':
                y = F.group_norm(a, node['groups'], P[node['params']['weight']], P[node['params']['bias']],
                                 node['eps'])
            elif op == 'silu':
                y = F.silu(a)
            elif op == 'add':
                y = a + vals[node['inputs'][1]]
            elif op == 'mul':
                y = a * vals[node['inputs'][1]]
            elif op == 'timestep_embedding':
                y = timestep_embedding(a, node['dim'], node['maxPeriod'])
            elif op == 'embedding':
                y = F.embedding(a, P[node['params']['weight']])
            elif op == 'add_broadcast':
                y = a + vals[node['inputs'][1]][:, :, None, None]
            elif op == 'upsample_nearest_2x':
                y = F.interpolate(a, scale_factor=2, mode='nearest')
            elif op == 'concat_channels':
                y = torch.cat([vals[v] for v in node['inputs']], dim=1)  # channels: axis 1 in NCHW and [B, C]
            elif op == 'self_attention':
                p = node['params']
                y = self_attention(a, node['heads'], node['groups'], node['eps'],
                                   P[p['norm']['weight']], P[p['norm']['bias']], P[p['qkv']['weight']],
                                   P[p['qkv']['bias']], P[p['proj']['weight']], P[p['proj']['bias']])
            elif op == 'dropout':
                y = F.dropout(a, node['rate'], self.training)
            else:  # output
                y = a
                out = a
            vals[node['output']] = y
        if image and channels_last:
            out = out.permute(0, 2, 3, 1)
        return out


def _linear(x, w, b):
    # "over the last axis" of the IR value: for an NCHW feature map that is axis 1.
    if x.dim() == 4:
        return F.linear(x.movedim(1, -1), w, b).movedim(-1, 1)
    return F.linear(x, w, b)


def timestep_embedding(t, dim, max_period):
    """[cos(t f), sin(t f)], f_i = exp(-ln(max_period) i / half) computed in float64 and rounded once (as tfjs)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half).to(t.dtype)
    args = t[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def self_attention(x, heads, groups, eps, norm_w, norm_b, qkv_w, qkv_b, proj_w, proj_b):
    """The IR self_attention op on NCHW x, no residual: GroupNorm, per-pixel qkv, per-head softmax(q k^T / sqrt(d)) v,
    heads concatenated, output projection."""
    b, c, h, w = x.shape
    n = h * w
    d = c // heads
    hn = F.group_norm(x, groups, norm_w, norm_b, eps).reshape(b, c, n).transpose(1, 2)  # [B, N, C]
    q, k, v = F.linear(hn, qkv_w, qkv_b).split(c, dim=2)
    q, k, v = (z.reshape(b, n, heads, d).transpose(1, 2) for z in (q, k, v))  # [B, heads, N, d]
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d))
    att = torch.matmul(torch.softmax(scores, dim=-1), v)
    merged = att.transpose(1, 2).reshape(b, n, c)
    return F.linear(merged, proj_w, proj_b).transpose(1, 2).reshape(b, c, h, w)


def build(ir_path, params_path=None, dtype=torch.float32):
    """IRModel from an ir.json, with parameters from a safetensors file if given."""
    model = IRModel(load_ir(ir_path), dtype=dtype)
    if params_path is not None:
        model.load_params(read_safetensors(params_path))
    return model


def check(case_dir, tol):
    """Compares the torch forward with tfjs's outputs stored by bench/export-ir.ts. Returns (ok, report lines)."""
    inputs = read_safetensors(f'{case_dir}/input.safetensors')
    expected = read_safetensors(f'{case_dir}/tfjs-output.safetensors')
    params = read_safetensors(f'{case_dir}/params.safetensors')
    ir = load_ir(f'{case_dir}/ir.json')
    label = inputs.get('labels')
    outs = {}
    for dt in (torch.float32, torch.float64):
        model = IRModel(ir, dtype=dt).load_params(params).eval()
        with torch.no_grad():
            outs[dt] = model(inputs['x'], inputs['t'], label)
    ok = True
    lines = []
    name = case_dir.rstrip('/').split('/')[-1]
    for backend, ref in expected.items():
        if list(ref.shape) != list(outs[torch.float32].shape):
            lines.append(f'{name} {backend}: shape {list(ref.shape)} vs torch {list(outs[torch.float32].shape)}')
            ok = False
            continue
        d32 = (outs[torch.float32].double() - ref.double()).abs().max().item()
        d64 = (outs[torch.float64] - ref.double()).abs().max().item()
        scale = ref.abs().max().item()
        passed = d32 <= tol
        ok = ok and passed
        lines.append(json.dumps({'case': name, 'backend': backend, 'max_abs_diff': d32,
                                 'max_abs_diff_vs_torch_float64': d64, 'max_abs_output': scale,
                                 'ok': passed}))
    return ok, lines


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--check', nargs='+', metavar='DIR', required=True)
    ap.add_argument('--tol', type=float, default=1e-4)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # tiny models: threads only add noise
    all_ok = True
    for d in args.check:
        ok, lines = check(d, args.tol)
        all_ok = all_ok and ok
        for line in lines:
            print(line)
    return 0 if all_ok else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
