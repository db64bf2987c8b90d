/**
 * `import-onnx` and sampling an import run: a model "from elsewhere" is made from our own export, re-wrapped the way
 * torch.onnx.export would hand it over (NCHW input `sample`, `timestep`, `class_labels`, NCHW output), registered
 * with the CLI and sampled; its samples must match sampling the original export directly. Plus a fixed-batch int64-t
 * model, and the one-line usage errors for broken models.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliCapture } from './helpers/run-cli.ts';
import { sampleInChunks } from '../../src/core/batched-sampling.ts';
import { buildNoiseGrid } from '../../src/core/noise-grid.ts';
import { getSampler } from '../../src/core/samplers/index.ts';
import { exportOnnx } from '../../src/engines/onnx/export.ts';
import {
  AttributeType,
  DataType,
  decodeModel,
  encodeModel,
  type ModelJson,
  type NodeJson,
  type ValueInfoJson,
} from '../../src/engines/onnx/onnx-proto.ts';
import { OnnxModelSession, onnxVpModel } from '../../src/engines/onnx/session.ts';
import { decodeNpy } from '../../src/io/npy.ts';
import { modelPreset } from '../../src/model/config.ts';
import { buildIR, numel, type ModelIR } from '../../src/model/ir.ts';
import { openStore } from '../../src/store/open.ts';

const root = mkdtempSync(join(tmpdir(), 'ds-onnx-import-'));
const db = join(root, 'studio.db');
const where = ['--db', db, '--out', join(root, 'runs')];

const cli = (args: string[]) => cliCapture(args);

/** Small nonzero weights (the real init zeroes the output conv, which would make every prediction 0). */
export function randomParams(ir: ModelIR, seed: number): Map<string, Float32Array> {
  let a = seed >>> 0;
  const r = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 4294967296;
  };
  return new Map(
    ir.params.map((p) => {
      const fanIn = p.layout === 'conv2d' || p.layout === 'linear' ? numel(p.shape.slice(1)) : 1;
      const scale = p.layout === 'vector' || p.layout === 'embedding' ? 0.3 : 1 / Math.sqrt(fanIn);
      const base = p.init.kind === 'ones' ? 1 : 0;
      return [p.name, Float32Array.from({ length: numel(p.shape) }, () => base + scale * (2 * r() - 1))];
    }),
  );
}

const dimParam = (d: number | string) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d });
function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoJson {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map(dimParam) } } } };
}
const transpose = (input: string, output: string, perm: number[]): NodeJson => ({
  input: [input],
  output: [output],
  name: `transpose_${output}`,
  opType: 'Transpose',
  attribute: [{ name: 'perm', type: AttributeType.INTS, ints: perm }],
});

/** Our export of a [8, 8, C] model, wrapped as a PyTorch-style NCHW model with foreign input / output names. */
function foreignFromOurs(ours: Uint8Array, c: number, conditional: boolean): Uint8Array {
  const m = decodeModel(ours);
  const g = m.graph;
  const rename = (from: string, to: string) => {
    for (const n of g.node) n.input = n.input.map((i) => (i === from ? to : i));
  };
  rename('t', 'timestep');
  if (conditional) rename('label', 'class_labels');
  // sample [N, C, H, W] -> x_nhwc [N, H, W, C] -> ... -> out [N, H, W, C] -> eps [N, C, H, W]
  rename('x', 'x_nhwc');
  g.node.unshift(transpose('sample', 'x_nhwc', [0, 2, 3, 1]));
  g.node.push(transpose('out', 'eps', [0, 3, 1, 2]));
  g.input = [
    valueInfo('sample', DataType.FLOAT, ['N', c, 8, 8]),
    valueInfo('timestep', DataType.FLOAT, ['N']),
    ...(conditional ? [valueInfo('class_labels', DataType.INT64, ['N'])] : []),
  ];
  g.output = [valueInfo('eps', DataType.FLOAT, ['N', c, 8, 8])];
  return encodeModel({ ...m, metadataProps: [] } as ModelJson);
}

/** A hand-built model: out = scale * sample (any layout), with the inputs and output named and shaped as given. */
function tinyModel(inputs: ValueInfoJson[], output: ValueInfoJson, scale = 0.5, reshape?: number[]): Uint8Array {
  const from = inputs[0].name;
  const mul = reshape ? 'scaled' : output.name;
  const extra: NodeJson[] = reshape
    ? [{ input: ['scaled', 'shape'], output: [output.name], name: 'reshape', opType: 'Reshape', attribute: [] }]
    : [];
  const shapeInit = reshape
    ? [{ name: 'shape', dims: [reshape.length], dataType: DataType.INT64, rawData: bytes64(reshape) }]
    : [];
  return encodeModel({
    irVersion: 8,
    producerName: 'test',
    producerVersion: '0',
    graph: {
      name: 'tiny',
      node: [{ input: [from, 'scale'], output: [mul], name: 'mul', opType: 'Mul', attribute: [] }, ...extra],
      initializer: [
        { name: 'scale', dims: [], dataType: DataType.FLOAT, rawData: new Uint8Array(Float32Array.of(scale).buffer) },
        ...shapeInit,
      ],
      input: inputs,
      output: [output],
    },
    opsetImport: [{ domain: '', version: 17 }],
    metadataProps: [],
  });
}

const bytes64 = (v: number[]) => new Uint8Array(BigInt64Array.from(v, BigInt).buffer);
const readNpy = (p: string) => decodeNpy(new Uint8Array(readFileSync(p)));
const runIdOf = (out: string) => /^run (r_\w+) /m.exec(out)![1];

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('import-onnx', () => {
  it('imports an NCHW conditional model from elsewhere and samples it like our own export', async () => {
    const ir = buildIR(modelPreset('tiny', { channels: 2, size: 8, numClasses: 3 }));
    const params = randomParams(ir, 7);
    const ours = exportOnnx(ir, params, { prediction: 'v', schedule: 'cosine', timesteps: 1000 });
    const file = join(root, 'unet-from-pytorch.onnx');
    writeFileSync(file, foreignFromOurs(ours, 2, true));

    const imp = await cli([
      'import-onnx',
      ...['--file', file, '--prediction', 'v', '--schedule', 'cosine', '--classes', '3', '--json'],
      ...where,
    ]);
    expect(imp.err).toBe('');
    expect(imp.code).toBe(0);
    const summary = JSON.parse(imp.out);
    expect(summary.model).toMatchObject({
      inputs: { x: 'sample', t: 'timestep', class: 'class_labels' },
      output: 'eps',
      layout: 'nchw',
      tType: 'float32',
      shape: [8, 8, 2],
      batch: null,
    });
    const run = summary.run as string;
    const store = openStore(db, { readonly: true });
    expect(store.getRun(run)).toMatchObject({ kind: 'import', engine: 'onnxruntime' });
    expect(store.listCheckpoints(run)).toEqual([]);
    store.close();

    const npy = join(root, 'imported.npy');
    const flags = ['--sampler', 'dpmpp-2m', '--steps', '6', '--n', '5', '--seed', '4', '--guidance', '2'];
    const s = await cli(['sample', '--run', run, ...flags, '--batch-size', '2', '--out', npy, '--json', '--db', db]);
    expect(s.err).toBe('');
    expect(s.code).toBe(0);
    expect(JSON.parse(s.out)).toMatchObject({ run, checkpoint: null, backend: 'onnxruntime-cpu', shape: [5, 8, 8, 2] });
    const got = readNpy(npy);
    expect(got.shape).toEqual([5, 8, 8, 2]);

    // The same sampling straight on our export (NHWC, no wrapper), in one chunk.
    const session = await OnnxModelSession.create(ours, { providers: ['cpu'] });
    const grid = buildNoiseGrid({ formulation: 'vp', schedule: 'cosine', timesteps: 1000, steps: 6 });
    const want = await sampleInChunks({
      vp: (l) => onnxVpModel(session, l),
      grid,
      prediction: 'v',
      clipX0: 1,
      sampler: getSampler('dpmpp-2m'),
      options: {},
      n: 5,
      chunk: 5,
      seed: 4,
      labels: Int32Array.of(0, 1, 2, 0, 1),
      guidance: 2,
    });
    await session.release();
    const clipped = want.samples.map((v) => Math.max(-1, Math.min(1, v)));
    let maxDiff = 0;
    (got.data as Float32Array).forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - clipped[i]))));
    expect(maxDiff).toBeLessThan(1e-4);
    expect(new Set(Array.from(clipped.slice(0, 20), (v) => v.toFixed(3))).size).toBeGreaterThan(5); // not trivial

    // Imports have no checkpoints and run on onnx only.
    const bad = await cli(['sample', '--run', run, '--engine', 'tfjs', '--db', db]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/imported ONNX model; it runs on onnx only/);
  });

  it('handles a fixed batch and int64 timesteps (calls padded to the graph batch)', async () => {
    const fixed = join(root, 'fixed.onnx');
    const dynamic = join(root, 'dynamic.onnx');
    const mk = (b: number | string) =>
      tinyModel(
        [valueInfo('input', DataType.FLOAT, [b, 3]), valueInfo('timesteps', DataType.INT64, [b])],
        valueInfo('x0', DataType.FLOAT, [b, 3]),
      );
    writeFileSync(fixed, mk(4));
    writeFileSync(dynamic, mk('batch'));
    const outs: Float32Array[] = [];
    for (const f of [fixed, dynamic]) {
      const imp = await cli(['import-onnx', '--file', f, '--prediction', 'x0', '--schedule', 'linear', ...where]);
      expect(imp.err).toBe('');
      expect(imp.code).toBe(0);
      expect(imp.out).toMatch(f === fixed ? /3-vectors, batch 4/ : /batch dynamic/);
      const npy = join(root, `${f === fixed ? 'fixed' : 'dynamic'}.npy`);
      const flags = ['--sampler', 'ddim', '--steps', '4', '--n', '7', '--out', npy, '--db', db];
      const s = await cli(['sample', '--run', runIdOf(imp.out), ...flags]);
      expect(s.err).toBe('');
      expect(s.code).toBe(0);
      outs.push(readNpy(npy).data as Float32Array);
    }
    expect(outs[0].length).toBe(21);
    expect(Array.from(outs[0])).toEqual(Array.from(outs[1]));
  });

  it('rejects broken models with one-line usage errors', async () => {
    const f = (name: string, bytes: Uint8Array | string) => {
      const p = join(root, name);
      writeFileSync(p, bytes);
      return p;
    };
    const x = valueInfo('sample', DataType.FLOAT, ['N', 1, 4, 4]);
    const t = valueInfo('timestep', DataType.FLOAT, ['N']);
    const out = valueInfo('out', DataType.FLOAT, ['N', 1, 4, 4]);
    const cases: [string, string, RegExp][] = [
      [f('text.onnx', 'not a model'), '', /onnxruntime cannot load it/],
      [
        f(
          'four.onnx',
          tinyModel([x, t, valueInfo('y', DataType.INT64, ['N']), valueInfo('z', DataType.FLOAT, ['N'])], out),
        ),
        '',
        /has 4 inputs .*expected \(x, t\) or \(x, t, class\)/,
      ],
      [
        f('no-t.onnx', tinyModel([x, valueInfo('class_labels', DataType.INT64, ['N'])], out)),
        '',
        /no timestep input among \(sample float32\[N, 1, 4, 4\], class_labels int64\[N\]\)/,
      ],
      [
        // onnxruntime reports inferred output shapes; a Reshape to the wrong shape shows only in the test run.
        f('reshaped.onnx', tinyModel([x, t], out, 0.5, [-1, 1, 2, 8])),
        '',
        /a test run failed: output out has shape \[2, 1, 2, 8\] for an input of \[2, 1, 4, 4\]; expected \[2, 1, 4, 4\]/,
      ],
      [f('cond.onnx', tinyModel([x, t, valueInfo('label', DataType.INT64, ['N'])], out)), '', /pass --classes K/],
      [
        f('f64.onnx', tinyModel([x, valueInfo('t', DataType.DOUBLE, ['N'])], out)),
        '',
        /must be float32, int64 or int32/,
      ],
    ];
    for (const [file, , message] of cases) {
      const r = await cli(['import-onnx', '--file', file, '--prediction', 'eps', '--schedule', 'linear', ...where]);
      expect(r.code, file).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err, file).toMatch(message);
    }
    const missing = await cli([
      'import-onnx',
      '--file',
      join(root, 'nope.onnx'),
      '--prediction',
      'eps',
      '--schedule',
      'linear',
      ...where,
    ]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read/);
    const noPred = await cli(['import-onnx', '--file', join(root, 'four.onnx'), '--schedule', 'linear', ...where]);
    expect(noPred.err).toMatch(/--prediction is required/);
    const runs = openStore(db, { readonly: true });
    expect(runs.listRuns().filter((r) => r.kind === 'import')).toHaveLength(3); // only the good ones
    runs.close();
  });
});
