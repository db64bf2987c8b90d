/**
 * Milliseconds per training step (batch 32) and per forward (batch 64) of the model presets, for the ONNX engine
 * (the compiled training step and the exported inference graph on onnxruntime's cpu provider), each tfjs backend we
 * can run, and PyTorch CPU on the same IR and weights (bench/torch/train_step.py, 2 threads), as a ratio.
 *
 *   npx tsx bench/train-step.ts [--budget-s 600] [--write docs/benchmarks.md] [--only tiny-28x28x1,...]
 *       [--openblas DIR] [--default-blas-presets tiny,small] [--cpu-presets tiny]
 *       [--batch 32] [--forward-batch 64] [--threads 2] [--reps 10] [--target-s 10]
 *
 * A training step is our trainer's (src/train/trainer.ts): upload of the batch, forward in training mode (dropout
 * on), L_simple with the eps target (diffusionLoss), backward (tf.variableGrads), global-norm clipping at 1 and an
 * AdamW update (AdamOptimizer). Not timed: data loading, drawing the step's noise, EMA, metrics. A forward is
 * TfjsModel.apply in inference mode inside tf.tidy, read back with dataSync. Weights: initParams(ir, 0).
 *
 * PyTorch baseline: Debian's torch calls whatever libblas.so.3 resolves to, the reference (netlib) BLAS unless
 * OpenBLAS is installed: its matrix products are ~20x slower (convolutions use oneDNN either way). The ratios are
 * against PyTorch with OpenBLAS when --openblas DIR (a folder holding OpenBLAS's libblas.so.3; default: that of
 * Debian's libopenblas0-pthread if installed) is available; Debian's default BLAS gets its own rows
 * (--default-blas-presets; all presets when there is no OpenBLAS).
 *
 * Every measurement runs in its own process, one at a time (no competition for the cores; a tfjs backend that
 * runs out of memory takes only its own cell down). Repetitions: two warmups, then up to --reps timed calls while
 * they total under --target-s; a call over 20 s is timed once, with no warmup. The whole run keeps to --budget-s: a
 * measurement whose estimate (from PyTorch's time and the ratio seen so far) does not fit is skipped and says so.
 * Timings only mean something on a quiet machine: the load average is printed with each row.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeSafetensors } from '../src/checkpoint/safetensors.ts';
import { NormalStream, StreamPurpose } from '../src/core/rng.ts';
import { makeSchedule } from '../src/core/schedules.ts';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../src/engines/onnx/export.ts';
import { OnnxTrainStep } from '../src/engines/onnx/train-step.ts';
import { useBackend, type BackendName } from '../src/engines/tfjs/backend.ts';
import { TfjsModel } from '../src/engines/tfjs/model.ts';
import { modelPreset, type PresetName } from '../src/model/config.ts';
import { initParams } from '../src/model/init.ts';
import { buildIR, checkIR, numel, paramCount, type ModelIR } from '../src/model/ir.ts';
import { diffusionLoss } from '../src/train/objectives.ts';
import { AdamOptimizer, clipByGlobalNorm } from '../src/train/optimizer.ts';
import { writeModel } from './export-ir.ts';

export const PYTHON = '/usr/bin/python3';
export const TRAIN_STEP_PY = fileURLToPath(new URL('./torch/train_step.py', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const DEBIAN_OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-pthread';

/** The folder whose libblas.so.3 (OpenBLAS) PyTorch runs with: `requested`, else Debian's if installed, else null. */
export function openblasDir(requested?: string): string | null {
  const dir = requested ?? (existsSync(join(DEBIAN_OPENBLAS, 'libblas.so.3')) ? DEBIAN_OPENBLAS : null);
  if (dir && !existsSync(join(dir, 'libblas.so.3'))) throw new Error(`--openblas ${dir}: no libblas.so.3 there`);
  return dir;
}

/** PyTorch's environment with OpenBLAS: one BLAS thread (torch's own threads call it; nested ones oversubscribe). */
export const openblasEnv = (dir: string): NodeJS.ProcessEnv => ({
  ...process.env,
  LD_LIBRARY_PATH: dir,
  OPENBLAS_NUM_THREADS: '1',
});
/** A call slower than this is timed once, without warmup (same rule in train_step.py). */
const SINGLE_OVER_S = 20;

type Phase = 'train' | 'forward';
export interface Measured {
  ms: number;
  samples: number[];
  /** One timed call, no warmup. */
  single: boolean;
}
type Cell = Measured | { error: string };
const measured = (c: Cell | undefined): Measured | null => (c && 'ms' in c ? c : null);

export interface ChildArgs {
  dir: string;
  /** A tfjs backend, or onnx: the compiled training step / the exported graph on onnxruntime's cpu provider. */
  backend: BackendName | 'onnx';
  threads: number;
  phase: Phase;
  batch: number;
  reps: number;
  targetS: number;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Two warmup calls (onnxruntime plans its memory on the first run and allocates that plan on the second: ~150k
 * page faults on the small preset, 700k on base, then a few thousand a step), then up to `reps` timed calls while
 * they total under targetS; one call if it is slow. PyTorch's side (train_step.py) warms up the same way.
 */
async function timeCalls(fn: () => void | Promise<void>, reps: number, targetS: number): Promise<Measured> {
  let t0 = performance.now();
  await fn();
  const first = performance.now() - t0;
  if (first > SINGLE_OVER_S * 1000) return { ms: first, samples: [first], single: true };
  await fn();
  const samples: number[] = [];
  while (samples.length < reps && (samples.length === 0 || sum(samples) < targetS * 1000)) {
    t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return { ms: median(samples), samples, single: false };
}

/** The same inputs for every engine: x0 uniform in [-1, 1], eps, t, x_t from the linear schedule. */
export function benchBatch(ir: ModelIR, batch: number) {
  const schedule = makeSchedule('linear', 1000);
  const dim = numel(ir.inputs.x.shape);
  const stream = new NormalStream(1, 0, StreamPurpose.train);
  const x0 = Float32Array.from({ length: batch * dim }, () => 2 * stream.uniform() - 1);
  const eps = new Float32Array(batch * dim);
  stream.fill(eps);
  const t = Int32Array.from({ length: batch }, () => Math.floor(stream.uniform() * 1000));
  const xt = x0.map((v, i) => {
    const ab = schedule.alphasCumprod[t[Math.floor(i / dim)]];
    return Math.sqrt(ab) * v + Math.sqrt(1 - ab) * eps[i];
  });
  return { schedule, x0, eps, t, xt, shape: [batch, ...ir.inputs.x.shape] };
}

function readBenchModel(dir: string): { ir: ModelIR; params: Map<string, Float32Array> } {
  const ir = JSON.parse(readFileSync(join(dir, 'ir.json'), 'utf8')) as ModelIR;
  checkIR(ir);
  const decoded = decodeSafetensors(readFileSync(join(dir, 'params.safetensors')));
  return { ir, params: new Map(ir.params.map((p) => [p.name, decoded.tensors[p.name].data as Float32Array])) };
}

/**
 * One onnxruntime measurement: the trainer's compiled step (OnnxTrainStep.update: feeds, one session.run, the
 * updated weights and moments adopted) or a forward of the exported inference graph, on the cpu provider.
 */
async function measureOnnx(a: ChildArgs): Promise<Measured & { engine: string }> {
  const { ir, params } = readBenchModel(a.dir);
  const b = benchBatch(ir, a.batch);
  let fn: () => Promise<void>;
  if (a.phase === 'train') {
    const step = await OnnxTrainStep.create(
      ir,
      {
        batch: a.batch,
        prediction: 'eps',
        learnedVariance: false,
        discreteData: b.shape.length === 4,
        timesteps: 1000,
        mode: 'update',
        optimizer: { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
        gradClip: 1,
      },
      b.schedule,
      params,
      { providers: ['cpu'], intraOpThreads: a.threads },
    );
    const batch = { x0: b.x0, eps: b.eps, xt: b.xt, t: b.t, labels: null };
    let n = 0;
    fn = async () => {
      await step.update(batch, 2e-4, n++);
    };
  } else {
    const bytes = exportOnnx(ir, params, { prediction: 'eps', schedule: 'linear', timesteps: 1000 });
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: a.threads,
    });
    const feeds = {
      x: new ort.Tensor('float32', b.xt, b.shape),
      t: new ort.Tensor('float32', Float32Array.from(b.t), [a.batch]),
    };
    fn = async () => {
      await session.run(feeds);
    };
  }
  return {
    engine: `onnxruntime ${ort.env.versions.node} cpu, ${a.threads} threads`,
    ...(await timeCalls(fn, a.reps, a.targetS)),
  };
}

/** One tfjs measurement: the child process. */
async function measureTfjs(a: ChildArgs & { backend: BackendName }): Promise<Measured & { engine: string }> {
  const { ir, params } = readBenchModel(a.dir);
  const detail = await useBackend(a.backend);
  const model = TfjsModel.create(ir, params);
  const { schedule, x0, eps, t, xt, shape } = benchBatch(ir, a.batch);

  let fn: () => void;
  if (a.phase === 'train') {
    const vars = model.trainableVariables();
    const optimizer = new AdamOptimizer(vars, { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
    const spec = { prediction: 'eps' as const, learnedVariance: false, schedule, discreteData: shape.length === 4 };
    let step = 0;
    fn = () => {
      const x0T = tf.tensor(x0, shape, 'float32');
      const epsT = tf.tensor(eps, shape, 'float32');
      const xtT = tf.tensor(xt, shape, 'float32');
      const tT = tf.tensor1d(Float32Array.from(t), 'float32');
      const { value, grads } = tf.variableGrads(() => {
        const out = model.apply(xtT, tT, null, { training: true, dropoutSeed: step });
        return diffusionLoss({ out, x0: x0T, eps: epsT, xt: xtT, t }, spec).loss;
      }, vars);
      value.dataSync();
      const gradList = vars.map((v) => grads[v.name]);
      const clipped = clipByGlobalNorm(gradList, 1);
      optimizer.apply(clipped.grads, 2e-4);
      tf.dispose([x0T, epsT, xtT, tT, value, ...gradList]);
      if (clipped.grads !== gradList) tf.dispose(clipped.grads);
      step += 1;
    };
  } else {
    fn = () => {
      const y = tf.tidy(() =>
        model.apply(tf.tensor(xt, shape, 'float32'), tf.tensor1d(Float32Array.from(t), 'float32'), null, {
          training: false,
        }),
      );
      y.dataSync();
      y.dispose();
    };
  }
  return { engine: `tfjs ${detail}`, ...(await timeCalls(fn, a.reps, a.targetS)) };
}

// ---- the parent: configurations, budget, table ----

export interface Config {
  preset: PresetName;
  size: number;
  channels: number;
}

export const CONFIGS: Config[] = [
  { preset: 'tiny', size: 28, channels: 1 },
  { preset: 'small', size: 28, channels: 1 },
  { preset: 'base', size: 28, channels: 1 },
  { preset: 'base', size: 32, channels: 3 }, // the DDPM CIFAR-10 U-Net
];
export const configName = (c: Config): string => `${c.preset}-${c.size}x${c.size}x${c.channels}`;

interface Row {
  config: string;
  params: number;
  engine: string;
  /** The PyTorch row the ratios of this config are against. */
  reference: boolean;
  train: Cell;
  forward: Cell;
  load1: number;
}

/** The most telling line of a failed child's stderr. */
function failure(stderr: string, status: number | null, signal: string | null): string {
  const lines = stderr.split('\n').filter((l) => l.trim() && !l.trim().startsWith('at '));
  if (lines.some((l) => l.includes('Aborted('))) {
    return 'failed: wasm Aborted(), out of memory (the wasm heap is capped at 4 GiB)';
  }
  const line = lines.find((l) => /Error|error:/.test(l)) ?? lines.at(-1) ?? `exit ${status ?? signal}`;
  return `failed: ${line.trim().slice(0, 140)}`;
}

/** Runs a command with a deadline; the JSON of its last stdout line, or why there is none. */
export function runJson<T>(
  cmd: string,
  args: string[],
  timeoutS: number,
  env?: NodeJS.ProcessEnv,
): T | { error: string } {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: Math.round(Math.max(1, timeoutS) * 1000),
    maxBuffer: 1 << 24,
    env: env ?? process.env,
  });
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status === 0 && last.startsWith('{')) return JSON.parse(last) as T;
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    return { error: `stopped at the end of the budget (after ${timeoutS.toFixed(0)} s)` };
  }
  return { error: failure(r.stderr ?? '', r.status, r.signal) };
}

export interface TorchResult {
  engine: string;
  blas: string;
  train_ms: number;
  train_samples: number[];
  train_single: boolean;
  forward_ms: number;
  forward_samples: number[];
  forward_single: boolean;
}

const fmtMs = (ms: number): string =>
  ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms < 100 ? 1 : 0)} ms`;

function ratio(c: Cell, ref: Cell | undefined): string {
  const a = measured(c);
  const b = measured(ref);
  if (!a || !b) return '';
  const r = a.ms / b.ms;
  return `${r.toFixed(r >= 10 ? 0 : 1)}x`;
}

function cellText(c: Cell): string {
  const m = measured(c);
  return m ? fmtMs(m.ms) : (c as { error: string }).error;
}

function repsText(c: Cell): string {
  const m = measured(c);
  if (!m) return '-';
  return m.single ? '1*' : String(m.samples.length);
}

function table(rows: Row[], batch: number, fwdBatch: number): string {
  const lines = [
    `| model | params | engine | train step b${batch} | vs torch | forward b${fwdBatch} | vs torch | reps | load |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const ref = rows.find((x) => x.config === r.config && x.reference);
    lines.push(
      `| ${r.config} | ${(r.params / 1e6).toFixed(2)}M | ${r.engine} | ${cellText(r.train)} | ` +
        `${ratio(r.train, ref?.train)} | ${cellText(r.forward)} | ${ratio(r.forward, ref?.forward)} | ` +
        `${repsText(r.train)} / ${repsText(r.forward)} | ${r.load1.toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'budget-s': { type: 'string', default: '600' },
      'cpu-presets': { type: 'string', default: 'tiny' },
      'default-blas-presets': { type: 'string', default: 'tiny,small' },
      openblas: { type: 'string' },
      only: { type: 'string' },
      batch: { type: 'string', default: '32' },
      'forward-batch': { type: 'string', default: '64' },
      threads: { type: 'string', default: '2' },
      reps: { type: 'string', default: '10' },
      'target-s': { type: 'string', default: '10' },
      write: { type: 'string' },
    },
  });
  const budgetS = Number(values['budget-s']);
  const batch = Number(values.batch);
  const forwardBatch = Number(values['forward-batch']);
  const reps = Number(values.reps);
  const targetS = Number(values['target-s']);
  const cpuPresets = new Set(values['cpu-presets'].split(',').filter(Boolean));
  const only = values.only ? new Set(values.only.split(',')) : null;
  const blasDir = openblasDir(values.openblas);
  const defaultBlasPresets = blasDir
    ? new Set(values['default-blas-presets'].split(',').filter(Boolean))
    : new Set<string>(CONFIGS.map((c) => c.preset));

  const started = performance.now();
  const elapsedS = (): number => (performance.now() - started) / 1000;
  const left = (): number => budgetS - elapsedS();
  const load0 = os.loadavg();
  const torchVersion = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (torchVersion.status !== 0)
    throw new Error(`PyTorch is not available to ${PYTHON}: apt-get install python3-torch`);
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `${os.cpus().length} cores (${cpuModel}), node ${process.version}, tfjs ${tf.version.tfjs}, ` +
      `torch ${torchVersion.stdout.trim()}, OpenBLAS ${blasDir ?? 'not found (pass --openblas DIR)'}; ` +
      `load average ${load0.map((l) => l.toFixed(2)).join(' ')}; budget ${budgetS} s`,
  );
  if (load0[0] > 0.5) console.log('warning: the machine is not quiet (1-minute load > 0.5): timings will be inflated');

  const rows: Row[] = [];
  // tfjs time / reference PyTorch time seen so far per backend and phase: the estimate for the next config.
  const ratios: Record<string, number> = {
    'onnx:train': 2,
    'onnx:forward': 1,
    'wasm:train': 10,
    'wasm:forward': 6,
    'cpu:train': 300,
    'cpu:forward': 200,
  };
  const blasSeen = new Set<string>();
  const tmp = mkdtempSync(join(os.tmpdir(), 'ds-train-step-'));
  const addRow = (r: Omit<Row, 'load1'>): void => {
    const row = { ...r, load1: os.loadavg()[0] };
    rows.push(row);
    const show = (c: Cell): string => {
      const m = measured(c);
      return m ? `${fmtMs(m.ms)} [${m.samples.map((v) => v.toFixed(0)).join(', ')}]` : cellText(c);
    };
    console.log(
      `${r.config} ${r.engine}: train ${show(r.train)}; forward ${show(r.forward)} ` +
        `(load ${row.load1.toFixed(2)}, ${elapsedS().toFixed(0)} s elapsed)`,
    );
  };
  try {
    for (const c of CONFIGS) {
      const name = configName(c);
      if (only && !only.has(name)) continue;
      const ir = buildIR(modelPreset(c.preset, { channels: c.channels, size: c.size }));
      const dir = join(tmp, name);
      writeModel(dir, ir, initParams(ir, 0));
      const params = paramCount(ir);

      const torchArgs = [TRAIN_STEP_PY, '--dir', dir, '--batch', String(batch), '--forward-batch'];
      torchArgs.push(String(forwardBatch), '--threads', values.threads, '--reps', String(reps));
      torchArgs.push('--target-s', String(targetS));
      const torchRow = (engine: string, env: NodeJS.ProcessEnv, reference: boolean): void => {
        if (left() <= 0) {
          const skipped = { error: 'skipped: budget spent' };
          addRow({ config: name, params, engine, reference, train: skipped, forward: skipped });
          return;
        }
        const r = runJson<TorchResult>(PYTHON, torchArgs, left(), env);
        if ('error' in r) {
          addRow({ config: name, params, engine, reference, train: r, forward: r });
          return;
        }
        blasSeen.add(r.blas);
        addRow({
          config: name,
          params,
          engine,
          reference,
          train: { ms: r.train_ms, samples: r.train_samples, single: r.train_single },
          forward: { ms: r.forward_ms, samples: r.forward_samples, single: r.forward_single },
        });
      };
      const threads = `${values.threads} threads`;
      if (blasDir) torchRow(`PyTorch CPU, ${threads}, OpenBLAS`, openblasEnv(blasDir), true);
      if (defaultBlasPresets.has(c.preset)) {
        torchRow(`PyTorch CPU, ${threads}, Debian default BLAS`, process.env, !blasDir);
      }
      const ref = rows.find((r) => r.config === name && r.reference);

      const backends: ChildArgs['backend'][] = [
        'onnx',
        'wasm',
        ...(cpuPresets.has(c.preset) ? (['cpu'] as const) : []),
      ];
      for (const backend of backends) {
        const cells: Partial<Record<Phase, Cell>> = {};
        for (const phase of ['train', 'forward'] as const) {
          const refMs = measured(ref?.[phase])?.ms;
          if (refMs !== undefined) {
            // Two warmups and a timed call (one when slow), plus ~3 s of process start-up.
            const est = (ratios[`${backend}:${phase}`] * refMs) / 1000;
            const estimate = 3 + (est > SINGLE_OVER_S ? est : 2 * est + Math.max(est, Math.min(targetS, reps * est)));
            if (estimate > left()) {
              cells[phase] = {
                error: `skipped: estimated ${estimate.toFixed(0)} s, ${Math.max(0, left()).toFixed(0)} s left`,
              };
              continue;
            }
          }
          const child: ChildArgs = {
            dir,
            backend,
            threads: Number(values.threads),
            phase,
            batch: phase === 'train' ? batch : forwardBatch,
            reps,
            targetS,
          };
          const r = runJson<Measured>(
            process.execPath,
            [...process.execArgv, SELF, '--child', JSON.stringify(child)],
            left(),
          );
          cells[phase] = r;
          if ('ms' in r && refMs !== undefined) ratios[`${backend}:${phase}`] = r.ms / refMs;
        }
        addRow({
          config: name,
          params,
          engine:
            backend === 'onnx'
              ? `onnxruntime cpu, ${threads} (compiled step)`
              : `tfjs-${backend}${backend === 'wasm' ? ' (SIMD, 1 thread)' : ' (pure JS)'}`,
          reference: false,
          train: cells.train!,
          forward: cells.forward!,
        });
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const load1 = os.loadavg();
  const md = table(rows, batch, forwardBatch);
  const summary =
    `Load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')}; ` +
    `${elapsedS().toFixed(0)} s of a ${budgetS} s budget (measurements whose estimate did not fit were skipped).`;
  console.log(`\n${md}\n\n${summary}\nPyTorch loaded: ${[...blasSeen].join('; ')}`);
  if (values.write) {
    const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
    writeFileSync(values.write, report(md, summary, when, torchVersion.stdout.trim(), cpuModel));
    console.log(`wrote ${values.write}`);
  }
}

function report(md: string, summary: string, when: string, torchVersion: string, cpuModel: string): string {
  return `# Training-step benchmarks

What one training step and one forward cost for each model preset, on each tfjs backend we can run here, beside
PyTorch CPU computing the same network: the same IR and weights, through \`bench/torch/ir_model.py\`, whose outputs
match the tfjs engine's within 2e-6 (\`tests/unit/torch-parity.test.ts\`). Produced by
\`npx tsx bench/train-step.ts --write docs/benchmarks.md\`.

- **Train step, batch 32**: what \`src/train/trainer.ts\` does per step: upload the batch, forward in training mode
  (dropout on), L_simple with the eps target, backward, global gradient-norm clipping at 1, AdamW update. Not timed:
  data loading, drawing the step's noise, EMA, metrics. PyTorch does the same with \`torch.optim.AdamW\` and
  \`clip_grad_norm_\`, NCHW.
- **Forward, batch 64**: inference (tfjs: \`TfjsModel.apply\` inside \`tf.tidy\`, read back; PyTorch: eval mode,
  \`no_grad\`), what one sampler step costs.
- **vs torch**: time / PyTorch-with-OpenBLAS time for the same model (how many times slower; against Debian's
  default BLAS when OpenBLAS is not available). PyTorch runs with
  \`torch.set_num_threads(2)\`; tfjs wasm is single-threaded in Node and tfjs cpu is pure JavaScript, so part of the
  gap is the second core.
- **PyTorch's BLAS**: Debian's python3-torch calls whatever \`libblas.so.3\` resolves to, and without
  \`libopenblas0\` that is the reference (netlib) BLAS, about 20x slower on matrix products (attention, linear
  layers; convolutions go through oneDNN either way). The OpenBLAS rows load Debian's libopenblas0-pthread (0.3.21)
  through \`LD_LIBRARY_PATH\` with \`OPENBLAS_NUM_THREADS=1\` (torch's two OpenMP threads call it; nested BLAS threads
  were slower). That is the fair baseline: pip's torch wheels bundle MKL.
- **reps**: timed repetitions (train / forward), median reported, after two warmups; \`1*\` = a call over 20 s,
  timed once without warmup. The pure-JS cpu backend runs the tiny preset only. Each measurement is its own process;
  the script keeps to a 10-minute budget and skips a measurement whose estimate does not fit.
- Presets at 28x28x1 (Fashion-MNIST's shape; \`base\` there has 3 levels, 28 not being divisible by 8) and \`base\`
  at 32x32x3, the DDPM CIFAR-10 U-Net (35.7M parameters). Unconditional, eps prediction, no learned variance.

Machine: ${os.cpus().length} cores (${cpuModel}), shared with other engineers; Node ${process.version}, tfjs
${tf.version.tfjs}, PyTorch ${torchVersion} (Debian python3-torch), ${when} UTC. The load column is the 1-minute load
average when the row finished; the benchmark itself adds about 1 (tfjs) or 2 (PyTorch), anything well above means
another job competed and the row is slower than it should be.

${md}

${summary}
`;
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--child');
  if (i >= 0) {
    const args = JSON.parse(process.argv[i + 1]) as ChildArgs;
    const result =
      args.backend === 'onnx' ? await measureOnnx(args) : await measureTfjs({ ...args, backend: args.backend });
    console.log(JSON.stringify(result));
    return;
  }
  await parent();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
