import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MAX_HEADER_BYTES,
  SafetensorsError,
  decodeSafetensors,
  encodeSafetensors,
  type EncodableTensor,
} from '../../src/checkpoint/safetensors.ts';

const ascii = (s: string) => [...Buffer.from(s, 'utf8')];
const u64 = (n: number) => [...new Uint8Array(new BigUint64Array([BigInt(n)]).buffer)];

/** A file from a header (object or raw text, unpadded) and data bytes, optionally with a forged header length. */
function file(header: unknown, data: number[] = [], length?: number): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = ascii(text);
  return new Uint8Array([...u64(length ?? json.length), ...json, ...data]);
}

const f32 = (...xs: number[]) => [...new Uint8Array(new Float32Array(xs).buffer)];
const entry = (dtype: string, shape: number[], begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

describe('encodeSafetensors', () => {
  it('writes the exact bytes of a hand-computed file', () => {
    const bytes = encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) } }, { k: 'v' });
    const header = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'; // 79 bytes
    const expected = [
      ...[0x50, 0, 0, 0, 0, 0, 0, 0], // 80: padded to a multiple of 8
      ...ascii(header),
      0x20,
      ...[0x00, 0x00, 0x80, 0x3f], // 1.0f, little-endian
      ...[0x00, 0x00, 0x00, 0xc0], // -2.0f
    ];
    expect([...bytes]).toEqual(expected);
  });

  it('orders tensors by element size (stable), so each is aligned in the file, and omits empty metadata', () => {
    const bytes = encodeSafetensors({
      b: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
      x: { dtype: 'F64', shape: [], data: new Float64Array([0.5]) },
      i: { dtype: 'I32', shape: [1], data: new Int32Array([-7]) },
      f: { dtype: 'F32', shape: [1], data: new Float32Array([2]) },
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
    expect(Object.keys(header)).toEqual(['x', 'i', 'f', 'b']);
    expect(header.x.data_offsets).toEqual([0, 8]);
    expect(header.i.data_offsets).toEqual([8, 12]);
    expect(header.f.data_offsets).toEqual([12, 16]);
    expect(header.b.data_offsets).toEqual([16, 19]);
    expect(bytes.length).toBe(8 + n + 19);
  });

  it('round-trips every dtype bit-exactly, with scalar, empty and multi-dimensional shapes', () => {
    const nanWithPayload = new Float32Array(new Uint32Array([0x7fc12345]).buffer)[0];
    const tensors: Record<string, EncodableTensor> = {
      f32: { dtype: 'F32', shape: [2, 3], data: new Float32Array([nanWithPayload, -0, 1e-45, Infinity, -3.5, 7]) },
      f64: { dtype: 'F64', shape: [], data: new Float64Array([Math.PI]) },
      i32: { dtype: 'I32', shape: [3, 1], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0]) },
      u8: { dtype: 'U8', shape: [4], data: new Uint8Array([0, 1, 128, 255]) },
      empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
      'weird name.ü/0': { dtype: 'U8', shape: [1], data: new Uint8Array([9]) },
    };
    const { tensors: out, metadata } = decodeSafetensors(encodeSafetensors(tensors, { ключ: 'значение' }));
    expect(metadata).toEqual({ ключ: 'значение' });
    expect(Object.keys(out).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(out[name].dtype).toBe(t.dtype);
      expect(out[name].shape).toEqual(t.shape);
      expect(out[name].data.constructor).toBe(t.data.constructor);
      expect(Buffer.from(out[name].data.buffer)).toEqual(
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      );
    }
  });

  it('writes only the view of a typed array, not its whole buffer', () => {
    const big = new Float32Array([9, 1, 2, 9]);
    const { tensors } = decodeSafetensors(
      encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: big.subarray(1, 3) } }),
    );
    expect([...tensors.a.data]).toEqual([1, 2]);
  });

  it('rejects invalid tensors with errors naming them', () => {
    const bad = (t: unknown, meta?: unknown) => () =>
      encodeSafetensors({ t } as Record<string, EncodableTensor>, meta as Record<string, string>);
    expect(bad({ dtype: 'F32', shape: [3], data: new Float32Array(2) })).toThrow(
      "tensor 't': shape [3] does not match 2 values",
    );
    expect(bad({ dtype: 'F32', shape: [2], data: new Float64Array(2) })).toThrow(
      "tensor 't': dtype F32 needs a Float32Array, got a Float64Array",
    );
    expect(bad({ dtype: 'F16', shape: [1], data: new Uint8Array(2) })).toThrow("tensor 't': cannot write dtype F16");
    expect(bad({ dtype: 'F32', shape: [-1], data: new Float32Array(0) })).toThrow('not a list of non-negative');
    expect(bad({ dtype: 'U8', shape: [0], data: new Uint8Array(0) }, { n: 1 })).toThrow(
      "metadata 'n' must be a string",
    );
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } })).toThrow(
      'reserved',
    );
  });
});

describe('decodeSafetensors', () => {
  it('reads dtypes JS has no array for as raw bytes, and accepts a null __metadata__', () => {
    const bytes = file(
      { __metadata__: null, h: entry('F16', [2], 0, 4), l: entry('I64', [1], 4, 12) },
      [0x00, 0x3c, 0x00, 0xc0, 5, 0, 0, 0, 0, 0, 0, 0],
    );
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({});
    expect(tensors.h).toEqual({ dtype: 'F16', shape: [2], data: new Uint8Array([0x00, 0x3c, 0x00, 0xc0]) });
    expect(tensors.l.data).toEqual(new Uint8Array([5, 0, 0, 0, 0, 0, 0, 0]));
  });

  it("keeps a tensor named '__proto__' as a plain key", () => {
    const { tensors } = decodeSafetensors(file('{"__proto__":' + JSON.stringify(entry('U8', [1], 0, 1)) + '}', [7]));
    expect(Object.keys(tensors)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
  });

  it('copies into aligned arrays even from a node Buffer at an odd offset', () => {
    const bytes = encodeSafetensors({ a: { dtype: 'F64', shape: [2], data: new Float64Array([1.5, -2.25]) } });
    const pool = Buffer.alloc(bytes.length + 3);
    pool.set(bytes, 3);
    const { tensors } = decodeSafetensors(pool.subarray(3));
    expect(tensors.a.data).toEqual(new Float64Array([1.5, -2.25]));
  });

  it('accepts zero-sized tensors anywhere, and a file with no tensors', () => {
    const bytes = file(
      { a: entry('F32', [1], 0, 4), e: entry('F32', [0], 4, 4), z: entry('U8', [0, 2], 0, 0) },
      f32(3),
    );
    expect(Object.keys(decodeSafetensors(bytes).tensors).sort()).toEqual(['a', 'e', 'z']);
    expect(decodeSafetensors(file('{}      ')).tensors).toEqual({});
  });

  const cases: [string, Uint8Array, string][] = [
    ['a file shorter than 8 bytes', new Uint8Array(5), 'file of 5 bytes is too short'],
    ['a header length too small', file('{', [], 1), 'header length 1 is too small'],
    ['a huge header length', new Uint8Array([...u64(MAX_HEADER_BYTES + 1), ...ascii('{}')]), 'exceeds 100000000'],
    ['a header length past the end', file('{}', [], 64), 'header length 64 runs past the end of the 10-byte file'],
    ['a header that is not UTF-8', new Uint8Array([...u64(3), 0x7b, 0xff, 0x7d]), 'header is not valid UTF-8'],
    ['a header not starting with {', file(' {}'), "header does not start with '{'"],
    ['a header that is not JSON', file('{"a":'), 'header is not valid JSON'],
    ['a non-object entry', file({ a: 3 }), "tensor 'a': entry is not an object"],
    ['a non-object __metadata__', file({ __metadata__: [] }), '__metadata__ is not an object'],
    ['a non-string metadata value', file({ __metadata__: { n: 1 } }), "__metadata__ 'n' is not a string"],
    ['an unknown dtype', file({ a: entry('F33', [1], 0, 4) }, f32(1)), 'tensor \'a\': unknown dtype "F33"'],
    ['a negative dimension', file({ a: entry('F32', [-1], 0, 4) }, f32(1)), "tensor 'a': shape [-1] is not a list"],
    ['a fractional dimension', file({ a: entry('F32', [1.5], 0, 4) }, f32(1)), 'is not a list of non-negative'],
    [
      'reversed offsets',
      file({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32(1)),
      "tensor 'a': data_offsets [4,0] is not a [begin, end] pair",
    ],
    [
      'a shape that does not match the span',
      file({ a: entry('F32', [2], 0, 4) }, f32(1)),
      "tensor 'a': shape [2] of F32 needs 8 bytes but data_offsets [0, 4] span 4",
    ],
    [
      'a shape whose size overflows',
      file({ a: entry('U8', [2 ** 40, 2 ** 40], 0, 4) }, f32(1)),
      "tensor 'a': shape [1099511627776, 1099511627776] of U8 needs too many bytes",
    ],
    [
      'offsets past the buffer',
      file({ a: entry('F32', [2], 0, 8) }, f32(1)),
      "tensor 'a': data_offsets [0, 8] run past the 4-byte data buffer",
    ],
    [
      'overlapping tensors',
      file({ a: entry('F32', [2], 0, 8), b: entry('F32', [1], 4, 8) }, f32(1, 2)),
      "tensor 'b': data_offsets [4, 8] overlap tensor 'a'",
    ],
    [
      'a gap between tensors',
      file({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) }, f32(1, 2, 3)),
      "tensor 'b': bytes 4..8 before it belong to no tensor",
    ],
    [
      'a gap at the start',
      file({ a: entry('F32', [1], 4, 8) }, f32(1, 2)),
      "tensor 'a': bytes 0..4 before it belong to no tensor",
    ],
    ['trailing garbage', file({ a: entry('F32', [1], 0, 4) }, [...f32(1), 0xde, 0xad]), '2 bytes of trailing data'],
  ];
  it.each(cases)('rejects %s', (_, bytes, message) => {
    expect(() => decodeSafetensors(bytes)).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(bytes)).toThrow(message);
  });

  it('rejects data_offsets that are not a pair of integers', () => {
    const bytes = file({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, f32(1));
    expect(() => decodeSafetensors(bytes)).toThrow("tensor 'a': data_offsets [0] is not a [begin, end] pair");
  });
});

describe('interoperability with Python', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const python = (script: string, ...args: string[]) => {
    const r = spawnSync('/usr/bin/python3', ['-c', script, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
    return r.stdout;
  };

  it("Python's standard library parses our header and reads a tensor's bytes", () => {
    const path = join(dir, 'ours.safetensors');
    const w = new Float32Array([0.1, -2, 3.25, 1e-30, 5, -6]);
    writeFileSync(
      path,
      encodeSafetensors(
        {
          idx: { dtype: 'I32', shape: [2], data: new Int32Array([-1, 7]) },
          w: { dtype: 'F32', shape: [2, 3], data: w },
          mask: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) },
        },
        { format: 'pt', note: 'ünïcode' },
      ),
    );
    const out = python(
      `
import json, struct, sys
raw = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
header = json.loads(raw[8:8 + n].decode('utf-8'))
info = header['w']
begin, end = info['data_offsets']
count = end - begin
values = struct.unpack('<%df' % (count // 4), raw[8 + n + begin:8 + n + end])
print(json.dumps({'n': n, 'meta': header['__metadata__'], 'shape': info['shape'], 'dtype': info['dtype'],
  'values': values, 'bits': raw[8 + n + begin:8 + n + end].hex()}))
`,
      path,
    );
    const parsed = JSON.parse(out);
    expect(parsed.n % 8).toBe(0);
    expect(parsed.meta).toEqual({ format: 'pt', note: 'ünïcode' });
    expect(parsed.shape).toEqual([2, 3]);
    expect(parsed.dtype).toBe('F32');
    expect(parsed.bits).toBe(Buffer.from(w.buffer).toString('hex'));
    expect(new Float32Array(parsed.values)).toEqual(w);
  });

  it('decodes a file Python wrote with json and struct', () => {
    const path = join(dir, 'theirs.safetensors');
    python(
      `
import json, struct, sys
data = struct.pack('<3d', 1.5, -0.0, 1e300) + struct.pack('<2i', -5, 9)
header = {'a': {'dtype': 'F64', 'shape': [3], 'data_offsets': [0, 24]},
          'b': {'dtype': 'I32', 'shape': [1, 2], 'data_offsets': [24, 32]},
          '__metadata__': {'who': 'python'}}
text = json.dumps(header).encode('utf-8')
text += b' ' * (-len(text) % 8)
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(text)) + text + data)
`,
      path,
    );
    const { tensors, metadata } = decodeSafetensors(readFileSync(path));
    expect(metadata).toEqual({ who: 'python' });
    expect(tensors.a).toEqual({ dtype: 'F64', shape: [3], data: new Float64Array([1.5, -0, 1e300]) });
    expect(Object.is(tensors.a.data[1], -0)).toBe(true);
    expect(tensors.b).toEqual({ dtype: 'I32', shape: [1, 2], data: new Int32Array([-5, 9]) });
  });
});
