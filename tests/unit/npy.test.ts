import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, type NpyArray } from '../../src/io/npy.ts';
import { readNpy, writeNpy } from '../../src/io/npy-file.ts';

const enc = new TextEncoder();
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

/** A .npy file assembled by hand: magic, version, header length field, header text, data bytes. */
function handMade(header: string, data: number[] = [], version: [number, number] = [1, 0]): Uint8Array {
  const h = version[0] === 3 ? Array.from(enc.encode(header)) : ascii(header);
  const len =
    version[0] === 1
      ? [h.length & 0xff, h.length >> 8]
      : [h.length & 0xff, (h.length >> 8) & 0xff, (h.length >> 16) & 0xff, h.length >>> 24];
  return new Uint8Array([0x93, ...ascii('NUMPY'), ...version, ...len, ...h, ...data]);
}

const F4_HEADER = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

describe('encodeNpy', () => {
  it('writes exactly the bytes numpy writes', () => {
    const bytes = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    // Preamble: 6 magic + 2 version + 2 length + header (dict, numpy's 21 - len('2') = 20 growth spaces, padding, \n) = 128.
    const headerLen = 128 - 10;
    const header = F4_HEADER.padEnd(headerLen - 1, ' ') + '\n';
    const expected = [
      0x93,
      0x4e,
      0x55,
      0x4d,
      0x50,
      0x59, // \x93NUMPY
      0x01,
      0x00, // version 1.0
      headerLen & 0xff,
      headerLen >> 8, // uint16 LE header length = 118
      ...ascii(header),
      0x00,
      0x00,
      0x80,
      0x3f, // 1.0f
      0x00,
      0x00,
      0x00,
      0x40, // 2.0f
      0x00,
      0x00,
      0x40,
      0x40, // 3.0f
      0x00,
      0x00,
      0x80,
      0x40, // 4.0f
      0x00,
      0x00,
      0xa0,
      0x40, // 5.0f
      0x00,
      0x00,
      0xc0,
      0x40, // 6.0f
    ];
    expect(headerLen).toBe(118);
    expect(Array.from(bytes)).toEqual(expected);
    expect(String.fromCharCode(...bytes.subarray(10, 10 + F4_HEADER.length + 20))).toBe(F4_HEADER + ' '.repeat(20));
  });

  it('formats every shape like Python: () (5,) (2, 3, 4), preamble a multiple of 64', () => {
    const cases: [NpyArray['data'], number[], string][] = [
      [new Float64Array([1.5]), [], "{'descr': '<f8', 'fortran_order': False, 'shape': (), }"],
      [new Int32Array(5), [5], "{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }"],
      [new Uint8Array(24), [2, 3, 4], "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 4), }"],
    ];
    for (const [data, shape, dict] of cases) {
      const b = encodeNpy(data, shape);
      const hlen = b[8] | (b[9] << 8);
      expect((10 + hlen) % 64).toBe(0);
      expect(b[10 + hlen - 1]).toBe(0x0a);
      const text = String.fromCharCode(...b.subarray(10, 10 + hlen));
      expect(text.startsWith(dict)).toBe(true);
      expect(text.slice(dict.length).trimEnd()).toBe('');
      expect(b.length).toBe(10 + hlen + data.byteLength);
    }
  });

  it('encodes a subarray view (non-zero byteOffset) correctly', () => {
    const big = new Float64Array([9, 1, 2, 3, 9]);
    const d = decodeNpy(encodeNpy(big.subarray(1, 4), [3]));
    expect(Array.from(d.data)).toEqual([1, 2, 3]);
  });

  it('switches to version 2.0 when the header does not fit in 65535 bytes', () => {
    const shape = Array<number>(22000).fill(1);
    const b = encodeNpy(new Float32Array([7]), shape);
    expect([b[6], b[7]]).toEqual([2, 0]);
    const hlen = new DataView(b.buffer).getUint32(8, true);
    expect(hlen).toBeGreaterThan(0xffff);
    expect((12 + hlen) % 64).toBe(0);
    const d = decodeNpy(b);
    expect(d.shape.length).toBe(22000);
    expect(Array.from(d.data)).toEqual([7]);
  });

  it('validates the shape against the data', () => {
    expect(() => encodeNpy(new Float32Array(6), [2, 2])).toThrow(/holds 4 values but the data has 6/);
    expect(() => encodeNpy(new Float32Array(2), [])).toThrow(/holds 1 values/);
    expect(() => encodeNpy(new Float32Array(0), [-1])).toThrow(/invalid dimension -1/);
    expect(() => encodeNpy(new Float32Array(2), [2.5])).toThrow(/invalid dimension/);
    expect(() => encodeNpy(new Int16Array(2) as unknown as Int32Array, [2])).toThrow(TypeError);
  });
});

describe('decodeNpy round trips', () => {
  const shapes: number[][] = [[], [5], [2, 3], [2, 3, 4], [0], [3, 0]];
  const makers: [string, (n: number) => NpyArray['data']][] = [
    ['<f4', (n) => Float32Array.from({ length: n }, (_, i) => i * 0.1 - 1.7)],
    ['<f8', (n) => Float64Array.from({ length: n }, (_, i) => Math.PI * (i - 3) + 1e-300)],
    ['<i4', (n) => Int32Array.from({ length: n }, (_, i) => (i % 2 ? -1 : 1) * (2 ** 31 - 1 - i))],
    ['|u1', (n) => Uint8Array.from({ length: n }, (_, i) => (i * 37) % 256)],
  ];
  for (const [dtype, make] of makers) {
    it(`${dtype} for shapes () (5,) (2,3) (2,3,4) (0,) (3,0)`, () => {
      for (const shape of shapes) {
        const data = make(shape.reduce((a, b) => a * b, 1));
        const d = decodeNpy(encodeNpy(data, shape));
        expect(d.dtype).toBe(dtype);
        expect(d.shape).toEqual(shape);
        expect(d.data.constructor).toBe(data.constructor);
        expect(Array.from(d.data)).toEqual(Array.from(data));
      }
    });
  }

  it('copies from an unaligned offset and does not alias the input', () => {
    const file = encodeNpy(new Float64Array([1.25, -2.5, 3]), [3]);
    const buf = new Uint8Array(file.length + 3);
    buf.set(file, 3);
    const d = decodeNpy(buf.subarray(3));
    expect(Array.from(d.data)).toEqual([1.25, -2.5, 3]);
    buf.fill(0);
    expect(Array.from(d.data)).toEqual([1.25, -2.5, 3]);
  });

  it('reads versions 2.0 and 3.0, other key orders, double quotes, spacing and Python 2 longs', () => {
    const data = [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40];
    const v2 = decodeNpy(handMade(`{"shape": (1, 2), "fortran_order": False, "descr": "<f4"}\n`, data, [2, 0]));
    expect(v2).toEqual({ dtype: '<f4', shape: [1, 2], data: new Float32Array([1, 2]) });
    const v3 = decodeNpy(handMade(`{'descr':'<f4','fortran_order':False,'shape':(2L,),}   \n`, data, [3, 0]));
    expect(v3.shape).toEqual([2]);
    expect(Array.from(v3.data)).toEqual([1, 2]);
    // uint8 written with an explicit byte order is the same dtype.
    expect(decodeNpy(handMade(`{'descr': '<u1', 'fortran_order': False, 'shape': (1,), }\n`, [200])).dtype).toBe('|u1');
  });

  it('decodes from a pooled node Buffer into arrays that own their memory', () => {
    for (const data of [new Float32Array([1, 2]), new Uint8Array([3, 4])]) {
      const buf = Buffer.from(encodeNpy(data, [2])); // small Buffers share node's pool: byteOffset != 0
      const d = decodeNpy(buf);
      expect(Array.from(d.data)).toEqual(Array.from(data));
      expect(d.data.buffer.byteLength).toBe(d.data.byteLength);
      expect(Buffer.isBuffer(d.data)).toBe(false);
    }
  });

  it('ignores bytes after the data, as numpy does', () => {
    const file = encodeNpy(new Int32Array([5]), [1]);
    const longer = new Uint8Array(file.length + 4);
    longer.set(file);
    expect(Array.from(decodeNpy(longer).data)).toEqual([5]);
  });
});

describe('decodeNpy errors', () => {
  const good = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  const header = (h: string, data: number[] = []) => handMade(h + '\n', data);

  it('bad magic', () => {
    const bad = good.slice();
    bad[1] = 0x6e;
    expect(() => decodeNpy(bad)).toThrow(/bad magic/);
    expect(() => decodeNpy(new Uint8Array([0x93, 0x4e]))).toThrow(/bad magic/);
    expect(() => decodeNpy(new Uint8Array(0))).toThrow(/not a .npy file/);
  });

  it('unsupported version', () => {
    const v4 = good.slice();
    v4[6] = 4;
    expect(() => decodeNpy(v4)).toThrow(/unsupported format version 4\.0/);
    const v11 = good.slice();
    v11[7] = 1;
    expect(() => decodeNpy(v11)).toThrow(/version 1\.1/);
  });

  it('fortran_order True', () => {
    expect(() => decodeNpy(header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", [0, 0, 0, 0]))).toThrow(
      /fortran_order True/,
    );
  });

  it('big-endian and unsupported dtypes', () => {
    expect(() => decodeNpy(header("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0]))).toThrow(
      /big-endian dtype '>f4'/,
    );
    expect(() => decodeNpy(header("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }"))).toThrow(
      /unsupported dtype '<i8'/,
    );
    expect(() => decodeNpy(header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"))).toThrow(
      /structured dtypes/,
    );
  });

  it('truncated data and truncated header', () => {
    expect(() => decodeNpy(good.subarray(0, good.length - 1))).toThrow(
      /truncated data: .* needs 24 bytes, file has 23/,
    );
    expect(() => decodeNpy(good.subarray(0, 50))).toThrow(/truncated header/);
    expect(() => decodeNpy(handMade('', [], [2, 0]).subarray(0, 11))).toThrow(/truncated/);
  });

  it('malformed headers', () => {
    const cases: [string, RegExp][] = [
      ["{'descr': '<f4', 'shape': (1,), }", /keys are \{descr,shape\}/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", /keys/],
      ["{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", /fortran_order is not True\/False/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", /shape \[-1\] is not a tuple/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': 3, }", /shape 3 is not a tuple/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (1,) ", /malformed header/],
      ["{'descr': '<f4' 'fortran_order': False}", /malformed header \(expected ','/],
      ["['descr']", /not a dict/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", /unexpected text/],
      ['{descr: 1}', /expected a string key/],
      ["{'descr: 1}", /unterminated string/],
      ['', /unexpected end/],
    ];
    for (const [h, re] of cases) expect(() => decodeNpy(header(h)), h).toThrow(re);
  });
});

describe('npy files on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'npy-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes atomically (no temp file left), overwrites, and reads back', async () => {
    const path = join(dir, 'a.npy');
    await writeNpy(path, new Float32Array([1, 2, 3, 4]), [2, 2]);
    await writeNpy(path, new Int32Array([7, 8, 9]), [3]);
    expect(readdirSync(dir)).toEqual(['a.npy']);
    const d = await readNpy(path);
    expect(d).toEqual({ dtype: '<i4', shape: [3], data: new Int32Array([7, 8, 9]) });
  });

  it('errors name the path', async () => {
    const missing = join(dir, 'missing.npy');
    await expect(readNpy(missing)).rejects.toThrow(missing);
    const corrupt = join(dir, 'corrupt.npy');
    writeFileSync(corrupt, 'hello');
    await expect(readNpy(corrupt)).rejects.toThrow(`${corrupt}: npy: not a .npy file`);
    await expect(writeNpy(join(dir, 'no-such-dir', 'x.npy'), new Uint8Array(1), [1])).rejects.toThrow(
      /cannot write .*x\.npy/,
    );
    await expect(writeNpy(join(dir, 'bad.npy'), new Uint8Array(2), [3])).rejects.toThrow(/holds 3 values/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('interoperability with numpy (/usr/bin/python3)', () => {
  const python = '/usr/bin/python3';
  const run = (code: string) => execFileSync(python, ['-c', code], { encoding: 'utf8', timeout: 20_000 }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'npy-numpy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('numpy reads our files and we read numpy files, byte for byte identical', async () => {
    let info: { version: string; growth: boolean };
    try {
      info = JSON.parse(
        run(
          'import json, numpy, numpy.lib.format as f; print(json.dumps({"version": numpy.__version__, "growth": hasattr(f, "GROWTH_AXIS_MAX_DIGITS")}))',
        ),
      );
    } catch (err) {
      throw new Error(
        `numpy is needed for this test: apt-get install python3-numpy (${(err as Error).message.split('\n')[0]})`,
      );
    }
    const cases: [string, NpyArray['data'], number[]][] = [
      ['f4', Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - 1), [2, 3]],
      ['f8', Float64Array.from({ length: 24 }, (_, i) => Math.sqrt(i + 0.1)), [2, 3, 4]],
      ['i4', Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0, -7, 12]), [5]],
      ['u1', Uint8Array.from([255]), []],
    ];
    for (const [name, data, shape] of cases) await writeNpy(join(dir, `ours-${name}.npy`), data, shape);
    // numpy loads ours, reports dtype/shape/sum, and writes the same arrays with np.save.
    const report = JSON.parse(
      run(`
import json, numpy as np
out = {}
for name in ['f4', 'f8', 'i4', 'u1']:
    a = np.load('${dir}/ours-' + name + '.npy')
    np.save('${dir}/theirs-' + name + '.npy', a)
    out[name] = {'dtype': a.dtype.str, 'shape': list(a.shape), 'sum': float(a.astype(np.float64).sum()), 'c': bool(a.flags['C_CONTIGUOUS'])}
np.save('${dir}/theirs-arange.npy', np.arange(12, dtype='<f8').reshape(3, 4) / 3)
print(json.dumps(out))
`),
    );
    for (const [name, data, shape] of cases) {
      const sum = Array.from(data as ArrayLike<number>).reduce((a, b) => a + b, 0);
      expect(report[name].dtype).toBe(name === 'u1' ? '|u1' : `<${name}`);
      expect(report[name].shape).toEqual(shape);
      expect(Math.abs(report[name].sum - sum)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(sum)));
      const theirs = readFileSync(join(dir, `theirs-${name}.npy`));
      const back = decodeNpy(theirs);
      expect(back.shape).toEqual(shape);
      expect(Array.from(back.data)).toEqual(Array.from(data));
      // numpy >= 1.24 pads headers for in-place growth (GROWTH_AXIS_MAX_DIGITS), as we do.
      if (info.growth)
        expect(Buffer.from(encodeNpy(data, shape)).equals(theirs), `numpy ${info.version}, ${name}`).toBe(true);
    }
    const arange = await readNpy(join(dir, 'theirs-arange.npy'));
    expect(arange.shape).toEqual([3, 4]);
    expect(Array.from(arange.data)).toEqual(Array.from({ length: 12 }, (_, i) => i / 3));
  });
});
