/**
 * The tfjs engine against an independent PyTorch implementation of the IR (bench/torch/ir_model.py, written from the
 * op definitions in src/model/ir.ts): same IR, same parameters, same inputs, outputs within 1e-4 (float32).
 *
 * Parameters are "busy" (every one nonzero, bench/export-ir.ts): with the training init, the zero-init output conv
 * would make every output 0. One case feeds tiny inputs so that the GroupNorm statistics are small and its eps shows
 * (1e-5 against 1e-6 moves the output by ~4e-4 there, against ~9e-5 at unit scale); one case loads its parameters
 * from a real checkpoint file (`model.<param>` next to `ema.` and `optimizer.` tensors).
 *
 * Needs Debian's PyTorch for /usr/bin/python3 (`apt-get install python3-torch`): without it the test fails, it
 * does not skip.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyParams, exportModel, type ExportOptions } from '../../bench/export-ir.ts';
import { encodeTrainingState } from '../../src/checkpoint/state.ts';
import { initParams } from '../../src/model/init.ts';

const PYTHON = '/usr/bin/python3';
const IR_MODEL = fileURLToPath(new URL('../../bench/torch/ir_model.py', import.meta.url));
const TOL = 1e-4;
const BACKENDS = ['wasm', 'cpu'] as const;

type Case = Omit<ExportOptions, 'dir' | 'backends'> & { name: string; checkpoint?: boolean };

const CASES: Case[] = [
  { name: 'tiny-16x16x1-classes-lv', preset: 'tiny', size: 16, channels: 1, numClasses: 10, learnedVariance: true },
  { name: 'tiny-8x8x3-classes-lv', preset: 'tiny', size: 8, channels: 3, numClasses: 10, learnedVariance: true },
  { name: 'tiny-8x8x3-small-inputs', preset: 'tiny', size: 8, channels: 3, xScale: 0.01 },
  { name: 'small-8x8x1-classes', preset: 'small', size: 8, channels: 1, numClasses: 4, batch: 2 },
  {
    name: 'mlp-2d-classes-lv-checkpoint',
    preset: 'tiny',
    size: 0,
    channels: 2,
    numClasses: 3,
    learnedVariance: true,
    batch: 6,
    checkpoint: true,
  },
];

interface CheckLine {
  case: string;
  backend: string;
  max_abs_diff: number;
  max_abs_diff_vs_torch_float64: number;
  max_abs_output: number;
}

/** Why torch cannot be imported by /usr/bin/python3, or null when it can. */
function torchMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON}: ${r.error.message}`;
  return r.status === 0 ? null : r.stderr.trim().split('\n').pop() || `exit ${r.status}`;
}

const results = new Map<string, CheckLine>();
let root = '';

beforeAll(async () => {
  const missing = torchMissing();
  if (missing) {
    throw new Error(`PyTorch is not available to ${PYTHON} (${missing}): apt-get install python3-torch`);
  }
  root = mkdtempSync(join(tmpdir(), 'ds-torch-parity-'));
  const dirs: string[] = [];
  for (const { name, checkpoint, ...options } of CASES) {
    const dir = join(root, name);
    const ir = await exportModel({ ...options, dir, backends: [...BACKENDS] });
    if (checkpoint) {
      // The checkpoint format: the loader must take `model.` and ignore EMA / optimizer tensors of the same shapes.
      const weights = busyParams(ir, options.seed ?? 0);
      const other = initParams(ir, 99);
      writeFileSync(
        join(dir, 'params.safetensors'),
        encodeTrainingState({
          step: 1,
          weights,
          ema: other,
          optimizer: { kind: 'adamw', step: 1, m: other, v: other },
          shapes: new Map(ir.params.map((p) => [p.name, p.shape])),
          lr: { current: 1e-4 },
          rng: {},
          data: { epoch: 0, index: 0 },
          config: {},
          backend: 'wasm',
          versions: {},
        }),
      );
    }
    dirs.push(dir);
  }
  const r = spawnSync(PYTHON, [IR_MODEL, '--check', ...dirs, '--tol', String(TOL)], { encoding: 'utf8' });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
  if (lines.length === 0) throw new Error(`ir_model.py --check failed (exit ${r.status}): ${r.stderr}`);
  for (const line of lines) {
    const c = JSON.parse(line) as CheckLine;
    results.set(`${c.case}/${c.backend}`, c);
  }
}, 60_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('PyTorch implementation of the IR matches the tfjs engine', () => {
  it.each(CASES.map((c) => c.name))('%s (wasm and cpu)', (name) => {
    for (const backend of BACKENDS) {
      const c = results.get(`${name}/${backend}`);
      expect(c, `no result for ${name} on ${backend}`).toBeDefined();
      expect(c!.max_abs_output).toBeGreaterThan(0.1); // the check is not vacuous
      expect(c!.max_abs_diff, `${name} on ${backend}`).toBeLessThanOrEqual(TOL);
    }
  });
});
