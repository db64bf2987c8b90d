/**
 * The training-step ratio onnxruntime / PyTorch CPU, measured in alternating rounds. bench/train-step.ts times each
 * engine once, one after the other; on this shared machine the speed drifts by up to 1.5x within minutes, so two
 * numbers taken minutes apart say little about their ratio. Here every round times PyTorch and then the compiled
 * ONNX step (the order alternates between rounds), each in its own process with a warmup and a few repetitions, and
 * the report is the ratio within each round and its median over rounds.
 *
 *   npx tsx bench/train-ratio.ts [--only tiny-28x28x1,small-28x28x1,base-28x28x1,base-32x32x3] [--rounds 5]
 *       [--reps 5] [--target-s 8] [--batch 32] [--threads 2] [--openblas DIR] [--budget-s 1800]
 *
 * Same step, model, weights and batch as bench/train-step.ts (its child mode runs the ONNX side, and
 * bench/torch/train_step.py --train-only the PyTorch side, with OpenBLAS as there).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { modelPreset } from '../src/model/config.ts';
import { initParams } from '../src/model/init.ts';
import { buildIR, paramCount } from '../src/model/ir.ts';
import { writeModel } from './export-ir.ts';
import {
  configName,
  CONFIGS,
  openblasDir,
  openblasEnv,
  PYTHON,
  runJson,
  TRAIN_STEP_PY,
  type ChildArgs,
  type Measured,
  type TorchResult,
} from './train-step.ts';

const TRAIN_STEP_TS = fileURLToPath(new URL('./train-step.ts', import.meta.url));

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'tiny-28x28x1,small-28x28x1,base-28x28x1' },
    rounds: { type: 'string', default: '5' },
    reps: { type: 'string', default: '5' },
    'target-s': { type: 'string', default: '8' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    openblas: { type: 'string' },
    'budget-s': { type: 'string', default: '1800' },
  },
});
const rounds = Number(values.rounds);
const batch = Number(values.batch);
const threads = Number(values.threads);
const reps = Number(values.reps);
const targetS = Number(values['target-s']);
const budgetS = Number(values['budget-s']);
const openblas = openblasDir(values.openblas);
const torchEnv = openblas ? openblasEnv(openblas) : process.env;
const wanted = values.only.split(',').filter(Boolean);
const configs = CONFIGS.filter((c) => wanted.includes(configName(c)));
const unknown = wanted.filter((w) => !configs.some((c) => configName(c) === w));
if (unknown.length)
  throw new Error(`unknown config ${unknown.join(', ')}; one of ${CONFIGS.map(configName).join(', ')}`);

const started = performance.now();
const left = (): number => budgetS - (performance.now() - started) / 1000;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

console.log(
  `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}; PyTorch BLAS: ` +
    `${openblas ? `OpenBLAS (${openblas})` : "Debian's default libblas.so.3"}; batch ${batch}, ${threads} threads, ` +
    `${rounds} rounds; load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);

const tmp = mkdtempSync(join(os.tmpdir(), 'ds-train-ratio-'));
const lines = [
  `| model | params | round | PyTorch train step | onnxruntime train step | ratio |`,
  '|---|---|---|---|---|---|',
];
const summary: string[] = [];
try {
  for (const c of configs) {
    const name = configName(c);
    const ir = buildIR(modelPreset(c.preset, { channels: c.channels, size: c.size }));
    const dir = join(tmp, name);
    writeModel(dir, ir, initParams(ir, 0));
    const params = `${(paramCount(ir) / 1e6).toFixed(2)}M`;
    const torch = (): number | string => {
      const r = runJson<TorchResult>(
        PYTHON,
        [TRAIN_STEP_PY, '--dir', dir, '--batch', String(batch), '--threads', String(threads)].concat([
          '--reps',
          String(reps),
          '--target-s',
          String(targetS),
          '--train-only',
        ]),
        left(),
        torchEnv,
      );
      return 'error' in r ? r.error : r.train_ms;
    };
    const onnx = (): number | string => {
      const child: ChildArgs = { dir, backend: 'onnx', threads, phase: 'train', batch, reps, targetS };
      const r = runJson<Measured>(
        process.execPath,
        [...process.execArgv, TRAIN_STEP_TS, '--child', JSON.stringify(child)],
        left(),
      );
      return 'error' in r ? r.error : r.ms;
    };
    const ratios: number[] = [];
    const torchMs: number[] = [];
    const onnxMs: number[] = [];
    for (let round = 1; round <= rounds && left() > 0; round++) {
      // Alternate who goes first, so that a drift within the round favours neither.
      const [a, b] = round % 2 ? [torch(), onnx()] : (([o, t]) => [t, o])([onnx(), torch()]);
      const ok = typeof a === 'number' && typeof b === 'number';
      if (ok) {
        ratios.push(b / a);
        torchMs.push(a);
        onnxMs.push(b);
      }
      const cell = (v: number | string) => (typeof v === 'number' ? fmt(v) : v);
      const row = `| ${name} | ${params} | ${round} | ${cell(a)} | ${cell(b)} | ${ok ? `${(b / a).toFixed(2)}x` : ''} |`;
      lines.push(row);
      console.log(`${row}  (load ${os.loadavg()[0].toFixed(2)})`);
    }
    if (ratios.length) {
      summary.push(
        `${name}: median ratio ${median(ratios).toFixed(2)}x over ${ratios.length} rounds ` +
          `(range ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x); medians PyTorch ` +
          `${fmt(median(torchMs))}, onnxruntime ${fmt(median(onnxMs))}`,
      );
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`\n${lines.join('\n')}\n\n${summary.join('\n')}`);
