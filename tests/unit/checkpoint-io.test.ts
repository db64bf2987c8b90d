import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CorruptCheckpointError,
  MissingCheckpointError,
  readCheckpoint,
  writeCheckpoint,
  type CheckpointFs,
} from '../../src/checkpoint/io.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/checkpoint/safetensors.ts';
import { CHECKPOINT_FORMAT, encodeTrainingState, type TrainingState } from '../../src/checkpoint/state.ts';

/** Deterministic values that include the awkward ones: NaN with a payload, -0, subnormals, infinities. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 2 ** 32 - 0.5) * 0.2;
  }
  if (n > 4) {
    bits[0] = 0x7fc0beef; // NaN with a payload
    bits[1] = 0x80000000; // -0
    bits[2] = 0x00000001; // smallest subnormal
    out[3] = -Infinity;
  }
  return out;
}

const SHAPES: [string, number[]][] = [
  ['down.0.conv.weight', [8, 3, 3, 3]],
  ['down.0.conv.bias', [8]],
  ['mid.norm.gamma', [8]],
  ['mid.attn.qkv.weight', [24, 8]],
];

function makeState(step = 200, seed = 1): TrainingState {
  const map = (offset: number) =>
    new Map(
      SHAPES.map(([name, shape], i) => [
        name,
        values(
          shape.reduce((a, b) => a * b, 1),
          seed * 100 + offset + i,
        ),
      ]),
    );
  return {
    step,
    weights: map(0),
    ema: map(10),
    optimizer: { kind: 'adamw', step, m: map(20), v: map(30) },
    shapes: new Map(SHAPES),
    lr: { current: 1.9e-4, base: 2e-4, warmupSteps: 500 },
    rng: { noise: [0x12345678, 0x9abcdef0, step, 0], dataOrder: [7, 11], dropoutCounter: 123456789012 },
    data: { epoch: 3, index: 4096 },
    config: { model: { channels: [32, 64], attention: true }, lr: 2e-4, batch: 32, name: 'tiny ü' },
    backend: 'tfjs-wasm',
    versions: { app: '0.1.0', tfjs: '4.22.0' },
    metrics: { loss: 0.0123, gradNorm: NaN },
  };
}

const bitsOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
const mapBits = (m: Map<string, Float32Array>) => [...m].map(([k, v]) => [k, bitsOf(v)]);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function expectSameState(got: TrainingState, want: TrainingState) {
  expect(mapBits(got.weights)).toEqual(mapBits(want.weights));
  expect(mapBits(got.ema!)).toEqual(mapBits(want.ema!));
  expect(mapBits(got.optimizer.m)).toEqual(mapBits(want.optimizer.m));
  expect(mapBits(got.optimizer.v)).toEqual(mapBits(want.optimizer.v));
  const rest = (s: TrainingState) => ({
    ...s,
    weights: undefined,
    ema: undefined,
    optimizer: { kind: s.optimizer.kind, step: s.optimizer.step },
    shapes: [...s.shapes],
  });
  expect(rest(got)).toEqual(rest(want));
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-io-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ckpt = (name = 'ckpt-00000200.safetensors') => join(dir, name);

describe('writeCheckpoint / readCheckpoint', () => {
  it('round-trips a realistic state bit-exactly and reports the file hash', async () => {
    const state = makeState();
    const written = await writeCheckpoint(ckpt(), state);
    const bytes = readFileSync(ckpt());
    expect(written).toEqual({ path: ckpt(), sha256: sha256(bytes), bytes: bytes.length });
    expectSameState(await readCheckpoint(ckpt(), written.sha256), state);
    expectSameState(await readCheckpoint(ckpt(), written.sha256.toUpperCase()), state);
    expect(readdirSync(dir)).toEqual(['ckpt-00000200.safetensors']);
  });

  it('round-trips a state without EMA, moments or metrics', async () => {
    const state = { ...makeState(0), ema: null, metrics: undefined };
    state.optimizer = { kind: 'adam', step: 0, m: new Map(), v: new Map() };
    delete state.metrics;
    await writeCheckpoint(ckpt(), state);
    const back = await readCheckpoint(ckpt());
    expect(back.ema).toBeNull();
    expect(back.optimizer).toEqual({ kind: 'adam', step: 0, m: new Map(), v: new Map() });
    expect('metrics' in back).toBe(false);
  });

  it('lays the file out for PyTorch users: prefixed tensors and self-describing metadata', async () => {
    const { sha256: _ } = await writeCheckpoint(ckpt(), makeState());
    const { tensors, metadata, dataOffset } = decodeSafetensors(readFileSync(ckpt()));
    expect(Object.keys(tensors)).toEqual(
      ['model.', 'ema.', 'optimizer.m.', 'optimizer.v.'].flatMap((p) => SHAPES.map(([n]) => p + n)),
    );
    expect(tensors['model.down.0.conv.weight'].shape).toEqual([8, 3, 3, 3]);
    expect(metadata).toMatchObject({
      format: CHECKPOINT_FORMAT,
      format_version: '1',
      step: '200',
      backend: 'tfjs-wasm',
      ema: 'true',
      optimizer: '{"kind":"adamw","step":200}',
      data: '{"epoch":3,"index":4096}',
      metrics: '{"loss":0.0123,"gradNorm":null}',
    });
    expect(metadata.payload_sha256).toBe(sha256(readFileSync(ckpt()).subarray(dataOffset)));
  });

  it('rejects an inconsistent state before writing anything', async () => {
    const state = makeState();
    state.shapes.set('mid.norm.gamma', [9]);
    await expect(writeCheckpoint(ckpt(), state)).rejects.toThrow(
      "invalid training state: parameter 'mid.norm.gamma' has 8 values but shape [9]",
    );
    const noEma = makeState();
    noEma.ema!.delete('mid.norm.gamma');
    await expect(writeCheckpoint(ckpt(), noEma)).rejects.toThrow('ema has 3 tensors for 4 parameters');
    const nanLr = makeState();
    nanLr.lr.current = NaN;
    await expect(writeCheckpoint(ckpt(), nanLr)).rejects.toThrow('lr.current is NaN');
    const badConfig = makeState();
    badConfig.config = { lr: Infinity };
    await expect(writeCheckpoint(ckpt(), badConfig)).rejects.toThrow('config.lr is Infinity');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('corrupt checkpoints', () => {
  const corrupt = async (mutate: (bytes: Buffer) => Uint8Array, message: string | RegExp, expectedSha?: string) => {
    await writeCheckpoint(ckpt(), makeState());
    writeFileSync(ckpt(), mutate(readFileSync(ckpt())));
    const err = await readCheckpoint(ckpt(), expectedSha).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptCheckpointError);
    expect((err as CorruptCheckpointError).path).toBe(ckpt());
    expect((err as Error).message).toContain(`checkpoint ${ckpt()} is corrupt: `);
    expect((err as Error).message).toMatch(message);
  };

  it('a flipped bit in the payload', () =>
    corrupt((b) => {
      b[b.length - 100] ^= 0x10;
      return b;
    }, /payload checksum mismatch \(header says [0-9a-f]{64}, data hashes to [0-9a-f]{64}\)/));

  it('a truncated file', () => corrupt((b) => b.subarray(0, b.length - 1000), /run past the \d+-byte data buffer/));

  it('a file cut inside the header', () => corrupt((b) => b.subarray(0, 100), /runs past the end of the 100-byte/));

  it('a garbage header', () =>
    corrupt((b) => {
      b.fill(0x41, 8, 40);
      return b;
    }, "header does not start with '{'"));

  it('an empty file', () => corrupt(() => new Uint8Array(0), 'file of 0 bytes is too short'));

  it('a changed header byte the payload checksum cannot see, caught by the whole-file hash', async () => {
    const { sha256: expected } = await writeCheckpoint(ckpt('orig.safetensors'), makeState());
    await corrupt(
      (b) => Buffer.from(b.toString('latin1').replace('"step":"200"', '"step":"900"'), 'latin1'),
      `file checksum mismatch (expected sha256 ${expected}`,
      expected,
    );
  });

  it('a safetensors file that is not one of ours', async () => {
    writeFileSync(ckpt(), encodeSafetensors({ w: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }));
    await expect(readCheckpoint(ckpt())).rejects.toThrow(
      `checkpoint ${ckpt()} is corrupt: not a Diffusion Studio checkpoint (metadata format is null)`,
    );
  });

  it('a tensor without its parameter', async () => {
    const { tensors, metadata } = decodeSafetensors(encodeTrainingState(makeState()));
    delete tensors['model.mid.norm.gamma'];
    const bytes = encodeSafetensors(tensors as never, (payload) => ({
      ...metadata,
      payload_sha256: sha256(payload),
    }));
    writeFileSync(ckpt(), bytes);
    await expect(readCheckpoint(ckpt())).rejects.toThrow("tensor 'ema.mid.norm.gamma' belongs to no parameter");
  });

  it('a newer format version is reported as such, not as corruption', async () => {
    const { tensors, metadata } = decodeSafetensors(encodeTrainingState(makeState()));
    writeFileSync(ckpt(), encodeSafetensors(tensors as never, { ...metadata, format_version: '2' }));
    const err = await readCheckpoint(ckpt()).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(CorruptCheckpointError);
    expect((err as Error).message).toBe(
      `cannot read checkpoint ${ckpt()}: it has checkpoint format 2, newer than this build reads (1); ` +
        'update Diffusion Studio to load it',
    );
  });

  it('a missing file', async () => {
    const err = await readCheckpoint(ckpt()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingCheckpointError);
    expect((err as Error).message).toBe(`checkpoint ${ckpt()} is missing: no such file (ENOENT)`);
  });
});

describe('failed writes', () => {
  const fsError = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });

  /** The real fs, except that a write to a temp file stores `okBytes` bytes and then fails with `code`. */
  function failingFs(code: string, at: 'write' | 'sync' | 'rename' | 'open', okBytes = 4096): CheckpointFs {
    return {
      readFile: (p) => fsp.readFile(p),
      unlink: (p) => fsp.unlink(p),
      rename: async (a, b) => {
        if (at === 'rename') throw fsError(code);
        return fsp.rename(a, b);
      },
      open: async (p, flags) => {
        if (at === 'open' && flags !== 'r') throw fsError(code);
        const fh = await fsp.open(p, flags);
        if (flags === 'r') return fh;
        let written = 0;
        return {
          close: () => fh.close(),
          sync: async () => {
            if (at === 'sync') throw fsError(code);
            return fh.sync();
          },
          write: async (buf, offset, length, position) => {
            if (at === 'write' && written + length > okBytes) {
              await fh.write(buf, offset, okBytes - written, position);
              written = okBytes;
              throw fsError(code);
            }
            written += length;
            return fh.write(buf, offset, length, position);
          },
        };
      },
    };
  }

  it.each([
    ['ENOSPC', 'write', 'no space left on device (ENOSPC)'],
    ['EIO', 'sync', 'input/output error (EIO)'],
    ['EXDEV', 'rename', 'EXDEV: simulated'],
    ['EACCES', 'open', 'permission denied (EACCES)'],
  ] as const)('%s at %s leaves the previous checkpoint intact and no temp file', async (code, at, why) => {
    const previous = await writeCheckpoint(ckpt(), makeState(200, 1));
    const err = await writeCheckpoint(ckpt(), makeState(200, 2), { fs: failingFs(code, at) }).catch((e) => e);
    expect((err as Error).message).toBe(`cannot write checkpoint ${ckpt()}: ${why}`);
    expect(((err as Error).cause as { code: string }).code).toBe(code);
    expect(readdirSync(dir)).toEqual(['ckpt-00000200.safetensors']);
    expectSameState(await readCheckpoint(ckpt(), previous.sha256), makeState(200, 1));
  });

  it('names the path and cause when the folder cannot hold files', async () => {
    writeFileSync(join(dir, 'a-file'), '');
    const path = join(dir, 'a-file', 'ckpt-00000200.safetensors');
    await expect(writeCheckpoint(path, makeState())).rejects.toThrow(
      `cannot write checkpoint ${path}: a path component is not a directory (ENOTDIR)`,
    );
    const missing = join(dir, 'no-such-folder', 'ckpt-00000200.safetensors');
    await expect(writeCheckpoint(missing, makeState())).rejects.toThrow(
      `cannot write checkpoint ${missing}: no such file or directory (ENOENT)`,
    );
  });

  it.skipIf(process.getuid?.() === 0)('names the path and cause in an unwritable folder', async () => {
    const locked = join(dir, 'locked');
    await fsp.mkdir(locked, { mode: 0o500 });
    const path = join(locked, 'ckpt-00000200.safetensors');
    await expect(writeCheckpoint(path, makeState())).rejects.toThrow(
      `cannot write checkpoint ${path}: permission denied (EACCES)`,
    );
  });
});

const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasTorch)('PyTorch reads the weights', () => {
  it('loads model.* into a state_dict and computes the same output', async () => {
    const weight = values(6, 7);
    weight.set([0.5, -1, 2, 0.25, 0, -3], 0); // plain numbers for the forward pass
    const state: TrainingState = {
      ...makeState(),
      weights: new Map([
        ['weight', weight],
        ['bias', new Float32Array([0.125, -0.5])],
      ]),
      shapes: new Map([
        ['weight', [2, 3]],
        ['bias', [2]],
      ]),
      ema: null,
      optimizer: { kind: 'adam', step: 1, m: new Map(), v: new Map() },
    };
    await writeCheckpoint(ckpt(), state);
    // Reads the file as a safetensors loader does (header + frombuffer), then load_state_dict(strict=True).
    const script = `
import json, struct, sys, torch
raw = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
header = json.loads(raw[8:8 + n])
meta = header.pop('__metadata__')
sd = {}
for name, info in header.items():
    if name.startswith('model.'):
        b, e = info['data_offsets']
        t = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=torch.float32).reshape(info['shape'])
        sd[name[len('model.'):]] = t
lin = torch.nn.Linear(3, 2)
lin.load_state_dict(sd, strict=True)
y = lin(torch.tensor([[1.0, 2.0, 3.0]]))
print(json.dumps({'y': y.tolist()[0], 'step': json.loads(meta['step']), 'lr': json.loads(meta['lr'])}))
`;
    const r = spawnSync('/usr/bin/python3', ['-c', script, ckpt()], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.step).toBe(200);
    expect(out.lr.current).toBe(1.9e-4);
    // y = W x + b in float32: [0.5 - 2 + 6 + 0.125, 0.25 + 0 - 9 - 0.5]
    expect(out.y).toEqual([4.625, -9.25]);
  });
});
