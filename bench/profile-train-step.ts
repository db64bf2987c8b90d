/**
 * Where a compiled ONNX training step spends its time: runs the step of a model preset with onnxruntime's profiler
 * on and prints kernel time per role (the autodiff's node hints: ConvDX, Im2col, GemmDW...) and per op type, in ms
 * per step and as a share of all kernel time.
 *
 *   npx tsx bench/profile-train-step.ts [--preset small] [--size 28] [--channels 1] [--batch 32] [--threads 2]
 *       [--steps 8] [--keep-trace] [--no-nchwc]
 *
 * The first two steps are warmups and are left out (onnxruntime's arena and memory pattern settle in them: ~150k page
 * faults each on small, a few thousand after). Profiling adds a little time per node, so compare the shares, and
 * time changes with bench/train-step.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OnnxTrainStep } from '../src/engines/onnx/train-step.ts';
import { modelPreset, type PresetName } from '../src/model/config.ts';
import { initParams } from '../src/model/init.ts';
import { buildIR } from '../src/model/ir.ts';
import { benchBatch } from './train-step.ts';

interface TraceEvent {
  cat?: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

const { values: o } = parseArgs({
  options: {
    preset: { type: 'string', default: 'small' },
    size: { type: 'string', default: '28' },
    channels: { type: 'string', default: '1' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '8' },
    'keep-trace': { type: 'boolean', default: false },
    'no-nchwc': { type: 'boolean', default: false },
  },
});
const batch = Number(o.batch);
const steps = Number(o.steps);
const ir = buildIR(modelPreset(o.preset as PresetName, { channels: Number(o.channels), size: Number(o.size) }));
const { schedule, x0, eps, xt, t } = benchBatch(ir, batch);
const dir = mkdtempSync(join(os.tmpdir(), 'ds-profile-'));
const step = await OnnxTrainStep.create(
  ir,
  {
    batch,
    prediction: 'eps',
    learnedVariance: false,
    discreteData: true,
    timesteps: 1000,
    mode: 'update',
    optimizer: { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
    gradClip: 1,
  },
  schedule,
  initParams(ir, 0),
  {
    providers: ['cpu'],
    intraOpThreads: Number(o.threads),
    profileFilePrefix: join(dir, 'step'),
    blockedConvolutions: !o['no-nchwc'],
  },
);

const wall: number[] = [];
const faults: number[] = [];
for (let i = 0; i < steps; i++) {
  const f0 = process.resourceUsage().minorPageFault;
  const t0 = performance.now();
  await step.update({ x0, eps, xt, t, labels: null }, 2e-4, i);
  wall.push(performance.now() - t0);
  faults.push(process.resourceUsage().minorPageFault - f0);
}
await step.dispose();

const trace = readdirSync(dir).find((f) => f.endsWith('.json'));
if (!trace) throw new Error(`onnxruntime wrote no profile into ${dir}`);
const events = JSON.parse(readFileSync(join(dir, trace), 'utf8')) as TraceEvent[];
const runs = events.filter((e) => e.name === 'model_run').map((e) => e.dur / 1000);
// Kernel events of the timed runs only: skip those of the warmup runs.
const WARMUP = 2;
if (runs.length <= WARMUP) throw new RangeError(`--steps must be over ${WARMUP}`);
const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
const perRun = kernels.length / runs.length;
const timed = kernels.slice(perRun * WARMUP);
const timedRuns = runs.length - WARMUP;

const byRole = new Map<string, number>();
const byOp = new Map<string, number>();
let total = 0;
for (const e of timed) {
  const node = e.name.slice(0, -'_kernel_time'.length);
  const role = node.replace(/_\d+$/, '');
  const op = e.args?.op_name ?? '?';
  const key = role === op ? op : `${role} (${op})`;
  byRole.set(key, (byRole.get(key) ?? 0) + e.dur);
  byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
  total += e.dur;
}
const ms = (us: number) => (us / 1000 / timedRuns).toFixed(1);
const table = (title: string, m: Map<string, number>) => {
  console.log(`\n| ${title} | ms/step | share |\n|---|---|---|`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 18)) {
    console.log(`| ${k} | ${ms(v)} | ${((100 * v) / total).toFixed(1)}% |`);
  }
};
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(
  `${o.preset} ${o.size}x${o.size}x${o.channels}, batch ${batch}, ${o.threads} threads: ` +
    `wall median ${med(wall.slice(WARMUP)).toFixed(0)} ms/step, model_run median ${med(runs.slice(WARMUP)).toFixed(0)} ms, ` +
    `kernels ${ms(total)} ms/step over ${perRun} nodes`,
);
console.log(`per step: wall ms ${wall.map((w) => w.toFixed(0)).join(' ')}; minor page faults ${faults.join(' ')}`);
table('role (op)', byRole);
table('op type', byOp);
if (o['keep-trace']) console.log(`\ntrace: ${join(dir, trace)}`);
else rmSync(dir, { recursive: true, force: true });
