/**
 * `export-onnx` and `sample --engine onnx` end to end, in-process through runCli: train a toy MLP run and a tiny
 * conditional 8x8 IDX U-Net run with learned variance for a few steps, export them, load the files in onnxruntime
 * and read their metadata, and sample through onnxruntime to the same samples as through tfjs.
 */
import { cliCapture } from './helpers/run-cli.ts';
import { writeTinyIdx } from './helpers/tiny-idx.ts';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { META } from '../../src/engines/onnx/export.ts';
import { OnnxModelSession, readOnnxInfo } from '../../src/engines/onnx/session.ts';
import { decodeNpy } from '../../src/io/npy.ts';

const root = mkdtempSync(join(tmpdir(), 'ds-cli-onnx-'));
const db = join(root, 'studio.db');
const where = ['--db', db, '--out', join(root, 'runs')];

const cli = (args: string[]) => cliCapture(args);

const runIdOf = (out: string) => /^run (r_\w+) /m.exec(out)![1];
const readNpy = (p: string) => decodeNpy(new Uint8Array(readFileSync(p))).data as Float32Array;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Samples a run through both engines with the same flags; returns both arrays and the onnx summary. */
async function sampleBoth(run: string, flags: string[]) {
  const got: Record<string, Float32Array> = {};
  const summaries: Record<string, { backend: string }> = {};
  for (const engine of ['tfjs', 'onnx']) {
    const file = join(root, `${run}-${engine}.npy`);
    const r = await cli(['sample', '--run', run, ...flags, '--engine', engine, '--out', file, '--json', '--db', db]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    summaries[engine] = JSON.parse(r.out.trim().split('\n').at(-1)!);
    got[engine] = readNpy(file);
  }
  return { tfjs: got.tfjs, onnx: got.onnx, summaries };
}

describe('diffusion-studio export-onnx / sample --engine onnx', () => {
  it('exports a toy MLP run, loads it in onnxruntime, and samples it like tfjs', async () => {
    const t = await cli([
      'train',
      ...['--data', 'toy:moons', '--toy-size', '64', '--batch', '8', '--steps', '3', '--objective', 'v'],
      ...['--backend', 'cpu', '--schedule', 'cosine', ...where],
    ]);
    expect(t.err).toBe('');
    expect(t.code).toBe(0);
    const run = runIdOf(t.out);

    const file = join(root, 'moons.onnx');
    const e = await cli(['export-onnx', '--run', run, '--out', file, '--json', '--db', db]);
    expect(e.err).toBe('');
    expect(e.code).toBe(0);
    expect(JSON.parse(e.out)).toMatchObject({ run, step: 3, ema: false, opset: 17, out: file });
    const info = readOnnxInfo(new Uint8Array(readFileSync(file)));
    expect(info).toMatchObject({
      prediction: 'v',
      schedule: 'cosine',
      timesteps: 1000,
      numClasses: 0,
      learnedVariance: false,
      inputShape: [2],
      step: 3,
      ema: false,
    });
    expect(info.raw['diffusion_studio.run']).toBe(run);
    const session = await OnnxModelSession.create(file, { providers: ['cpu'] });
    expect(session.provider).toBe('cpu');
    expect((await session.predictBatch(new Float32Array(6), 500)).length).toBe(6);
    await session.release();

    const s = await sampleBoth(run, ['--sampler', 'dpmpp-2m', '--steps', '5', '--n', '32', '--seed', '2']);
    expect(s.summaries.tfjs.backend).toMatch(/^tfjs-/);
    expect(s.summaries.onnx.backend).toBe('onnxruntime-cpu'); // cuda, dml and webgpu are not here
    expect(maxAbsDiff(s.tfjs, s.onnx)).toBeLessThanOrEqual(1e-4);
  });

  it('exports a conditional 8x8 IDX U-Net with learned variance (EMA) and samples it with guidance', async () => {
    const idxDir = join(root, 'idx8');
    mkdirSync(idxDir);
    writeTinyIdx(idxDir);
    const t = await cli([
      'train',
      ...['--data', 'mnist', '--data-dir', idxDir, '--cond', '--learned-variance', '--batch', '2', '--steps', '2'],
      ...['--checkpoint-every', '1', '--backend', 'wasm', ...where],
    ]);
    expect(t.err).toBe('');
    expect(t.code).toBe(0);
    const run = runIdOf(t.out);

    const file = join(root, 'idx.onnx');
    const e = await cli(['export-onnx', '--run', run, '--checkpoint', '1', '--ema', '--out', file, '--db', db]);
    expect(e.err).toBe('');
    expect(e.code).toBe(0);
    expect(e.out).toMatch(new RegExp(`^exported run ${run} step 1 \\(EMA weights, [\\d,]+ parameters\\) -> `));
    const info = readOnnxInfo(new Uint8Array(readFileSync(file)));
    expect(info).toMatchObject({ numClasses: 10, learnedVariance: true, inputShape: [8, 8, 1], step: 1, ema: true });
    expect(info.raw[META.prediction]).toBe('eps');

    const s = await sampleBoth(run, [
      ...['--checkpoint', '1', '--ema', '--sampler', 'ddpm', '--steps', '4', '--n', '4'],
      ...['--guidance', '2', '--seed', '1'],
    ]);
    expect(s.summaries.onnx.backend).toBe('onnxruntime-cpu');
    expect(maxAbsDiff(s.tfjs, s.onnx)).toBeLessThanOrEqual(1e-4);

    const grid = join(root, 'idx-onnx.png');
    const g = await cli(
      ['sample', '--run', run, '--engine', 'onnx', '--provider', 'cpu', '--steps', '2', '--n', '2'].concat([
        '--class',
        '2',
        '--grid',
        grid,
        '--db',
        db,
      ]),
    );
    expect(g.err).toBe('');
    expect(g.out).toMatch(/onnxruntime-cpu\), 2 steps/);
    expect(existsSync(grid)).toBe(true);
  });

  it('reports usage errors in one line with exit status 2', async () => {
    const cases: [string[], RegExp][] = [
      [['export-onnx', '--out', 'm.onnx', '--db', db], /--run ID is required/],
      [['export-onnx', '--run', 'r_x', '--db', db], /--out FILE.onnx is required/],
      [['export-onnx', '--run', 'r_x', '--out', 'm.txt', '--db', db], /--out must name a .onnx file/],
      [['export-onnx', '--run', 'r_nope', '--out', join(root, 'm.onnx'), '--db', db], /no run r_nope in /],
      [['sample', '--run', 'r_x', '--engine', 'torch', '--db', db], /--engine must be one of tfjs, onnx/],
      [['sample', '--run', 'r_x', '--engine', 'onnx', '--backend', 'wasm', '--db', db], /--backend applies to/],
      [
        ['sample', '--run', 'r_x', '--engine', 'tfjs', '--provider', 'cpu', '--db', db],
        /--provider applies to --engine onnx/,
      ],
      [
        ['sample', '--run', 'r_x', '--backend', 'wasm', '--provider', 'cpu', '--db', db],
        /--provider applies to --engine onnx/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });
});
