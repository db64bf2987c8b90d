/**
 * Sampler overhead per step, outside the model, for a batch of 64 x 3 x 32 x 32 (float32).
 *
 * The model is a stand-in whose own time is measured and subtracted, so what remains is the sampler's arithmetic,
 * allocation and bookkeeping. The reference, run in the same process, is one fused multiply-add pass over the batch
 * (y = a*x + b*y): "x passes" says how many such passes a sampler's step costs. Later engines hold this to a small
 * fraction of a model call (a 1M-parameter U-Net forward at batch 64 is ~92 ms on onnxruntime CPU, DESIGN.md).
 *
 * Run: npm run bench   (or: npx tsx bench/sampler-overhead.ts [--steps 20] [--repeats 5])
 */
import { parseArgs } from 'node:util';
import { BatchNoise, initialNoise } from '../src/core/rng.ts';
import { SAMPLERS, SAMPLER_NAMES } from '../src/core/samplers/index.ts';
import { karrasSigmas } from '../src/core/spacing.ts';
import type { Denoiser, DenoiserOutput, Vec } from '../src/core/types.ts';

const { values } = parseArgs({ options: { steps: { type: 'string' }, repeats: { type: 'string' } } });
const steps = Number(values.steps ?? 20);
const repeats = Number(values.repeats ?? 5);
const batch = 64;
const dim = 3 * 32 * 32;

/** Returns a shrunk copy of x: cheap, but a real fresh array as a model would. Its time is recorded. */
class TimedStandIn implements Denoiser {
  readonly dim = dim;
  ms = 0;
  denoise(x: Vec): DenoiserOutput {
    const t0 = performance.now();
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = 0.5 * x[i];
    this.ms += performance.now() - t0;
    return { x0: out };
  }
}

function referencePassMs(): number {
  const x = initialNoise(1, 0, batch, dim) as Float32Array;
  const y = new Float32Array(x.length);
  const reps = 200;
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let k = 0; k < reps; k++) for (let i = 0; i < x.length; i++) y[i] = 0.99 * x[i] + 0.01 * y[i];
    best = Math.min(best, (performance.now() - t0) / reps);
  }
  return best;
}

const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const ref = referencePassMs();
const sigmas = karrasSigmas(steps, 0.002, 80);
const rows: string[][] = [];
for (const name of SAMPLER_NAMES) {
  const entry = SAMPLERS[name];
  const perStep: number[] = [];
  for (let r = 0; r < repeats + 1; r++) {
    const model = new TimedStandIn();
    const x = initialNoise(r, 0, batch, dim);
    for (let i = 0; i < x.length; i++) x[i] *= sigmas[0];
    const t0 = performance.now();
    await entry.run({ denoiser: model, sigmas, x, noise: new BatchNoise(r, 0, batch, dim) });
    const total = performance.now() - t0;
    if (r > 0) perStep.push((total - model.ms) / steps); // first run warms the JIT
  }
  const ms = median(perStep);
  rows.push([name, entry.nfe(sigmas).toString(), ms.toFixed(3), (ms / ref).toFixed(1)]);
}

const header = ['sampler', `NFE (${steps} steps)`, 'overhead ms/step', 'x passes'];
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
const line = (cells: string[]) => `| ${cells.map((s, c) => s.padEnd(widths[c])).join(' | ')} |`;
console.log(`Sampler overhead outside the model, batch ${batch} x 3 x 32 x 32 float32, median of ${repeats} runs`);
console.log(`reference: one fused multiply-add pass over the batch = ${ref.toFixed(3)} ms (same process)\n`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));
