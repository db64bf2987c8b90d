// Gradient checks for every backend used for training here (cpu, wasm): whole-model directional derivatives against
// central differences, and the hand-written ('custom') gradients of single ops against the cpu backend's built-in
// gradients.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { NormalStream } from '../../src/core/rng.ts';
import { useBackend, type BackendName } from '../../src/engines/tfjs/backend.ts';
import { conv2dTorch } from '../../src/engines/tfjs/conv.ts';
import type { GradMode } from '../../src/engines/tfjs/grad-mode.ts';
import { groupNorm } from '../../src/engines/tfjs/group-norm.ts';
import { matMul } from '../../src/engines/tfjs/matmul.ts';
import { fromTfjsLayout, TfjsModel } from '../../src/engines/tfjs/model.ts';
import { upsampleNearest2x } from '../../src/engines/tfjs/ops.ts';
import { modelPreset, type UNetConfig } from '../../src/model/config.ts';
import { initParams } from '../../src/model/init.ts';
import { buildIR } from '../../src/model/ir.ts';
import { runReference } from '../../src/model/reference.ts';

let stream = 0;
function randn(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  new NormalStream(99, stream++, 0).fill(out);
  for (let i = 0; i < n; i++) out[i] *= scale;
  return out;
}

/** Values of f's gradients with respect to the given inputs (made from plain arrays on the current backend). */
function grads(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: { data: Float32Array; shape: number[] }[],
): Float32Array[] {
  const gs = tf.tidy(() => {
    const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
    return tf.grads((...a: tf.Tensor[]) => f(...a))(xs);
  });
  const out = gs.map((g) => Float32Array.from(g.dataSync()));
  tf.dispose(gs);
  return out;
}

/** max |a - e| / max |e|. */
function relErr(a: Float32Array, e: Float32Array): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < e.length; i++) {
    err = Math.max(err, Math.abs(a[i] - e[i]));
    scale = Math.max(scale, Math.abs(e[i]));
  }
  return err / scale;
}

// The tiny preset at 8x8 RGB, batch 2, with class labels, learned variance and (for training mode) dropout: every
// op kind of the U-Net appears (attention at 2x2 with 2 heads, stride-2 convs, upsampling, skips, label embedding).
const config: UNetConfig = {
  ...(modelPreset('tiny', { channels: 3, size: 8, numClasses: 3, learnedVariance: true }) as UNetConfig),
  dropout: 0.1,
};
const ir = buildIR(config);

interface Case {
  b: number;
  x: Float32Array;
  t: Float32Array;
  labels: Int32Array;
  /** L = sum(out * R): a scalar that weighs every output. */
  R: Float32Array;
}
function makeCase(b: number): Case {
  return {
    b,
    x: randn(b * 8 * 8 * 3),
    t: Float32Array.from([10, 600.5].slice(0, b)),
    labels: Int32Array.from([2, -1].slice(0, b)),
    R: randn(b * 8 * 8 * 6),
  };
}
const main = makeCase(2);
const { x, t, labels, R } = main;
const B = main.b;
// Parameters with every value nonzero, so that zero-initialized layers do not hide the rest of the network.
const theta = initParams(ir, 11);
for (const [name, v] of theta) {
  const n = randn(v.length, 0.05);
  theta.set(
    name,
    v.map((u, i) => u + n[i]),
  );
}
/** A random direction scaled per tensor by its RMS: a relative perturbation of every parameter. */
function direction(): Map<string, Float32Array> {
  return new Map(
    [...theta].map(([name, v]) => {
      const rms = Math.sqrt(v.reduce((s, u) => s + u * u, 0) / v.length);
      return [name, randn(v.length, rms)];
    }),
  );
}
function shifted(v: Map<string, Float32Array>, eps: number): Map<string, Float64Array> {
  return new Map([...theta].map(([name, p]) => [name, Float64Array.from(p, (u, i) => u + eps * v.get(name)![i])]));
}
function loss64(out: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * R[i];
  return s;
}

describe.each(['cpu', 'wasm'] as BackendName[])('gradients on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  /** Analytic gradient of L in canonical layout (mode: the backend's default unless given). */
  function analytic(training: boolean, gradMode?: GradMode, c: Case = main): Map<string, Float32Array> {
    const model = TfjsModel.create(ir, theta);
    try {
      const before = tf.memory().numTensors;
      const g = tf.tidy(() => {
        const xt = tf.tensor(c.x, [c.b, 8, 8, 3]);
        const tt = tf.tensor1d(c.t);
        const lt = tf.tensor1d(c.labels, 'int32');
        const rt = tf.tensor(c.R, [c.b, 8, 8, 6]);
        const f = (): tf.Scalar =>
          tf.sum(tf.mul(model.apply(xt, tt, lt, { training, dropoutSeed: 42, gradMode }), rt)) as tf.Scalar;
        return tf.variableGrads(f, model.trainableVariables()).grads;
      });
      const vars = model.trainableVariables();
      const out = new Map(
        ir.params.map((spec, i) => [spec.name, fromTfjsLayout(spec, g[vars[i].name].dataSync() as Float32Array)]),
      );
      tf.dispose(Object.values(g));
      expect(tf.memory().numTensors).toBe(before); // nothing leaks from a training step under tidy
      return out;
    } finally {
      model.dispose();
    }
  }

  let evalGrad: Map<string, Float32Array> | undefined;
  /** The eval-mode gradient in the backend's default mode, computed once per backend. */
  const evalGradient = (): Map<string, Float32Array> => (evalGrad ??= analytic(false));

  /** sum_p <g_p, v_p> and sum_p |g_p| . |v_p| (the scale against which cancellation is judged). */
  function directional(g: Map<string, Float32Array>, v: Map<string, Float32Array>): { d: number; scale: number } {
    let d = 0;
    let scale = 0;
    for (const [name, gp] of g) {
      const vp = v.get(name)!;
      for (let i = 0; i < gp.length; i++) {
        d += gp[i] * vp[i];
        scale += Math.abs(gp[i] * vp[i]);
      }
    }
    return { d, scale };
  }

  it('tiny U-Net: directional derivatives match float64 central differences of the reference model', () => {
    // The reference interpreter is the same function in float64: with a 1e-4 relative step its central difference
    // has truncation error ~1e-8 and roundoff ~1e-12 of the derivative, so the comparison measures only the float32
    // gradient's own error, measured at <= 1e-8 of the scale sum |g_i v_i| on both backends (the derivative itself
    // is ~1e-3 of that scale: random directions cancel). Tolerance 1e-6 of the scale: 100x margin, while a missing
    // or wrong gradient term (one layer's share of the scale, >= 1e-4) fails.
    const g = evalGradient();
    for (let k = 0; k < 2; k++) {
      const v = direction();
      const eps = 1e-4;
      const fd =
        (loss64(runReference(ir, shifted(v, eps), x, t, labels)) -
          loss64(runReference(ir, shifted(v, -eps), x, t, labels))) /
        (2 * eps);
      const { d, scale } = directional(g, v);
      expect(Math.abs(d - fd)).toBeLessThan(1e-6 * scale);
    }
  });

  it('tiny U-Net in training mode (dropout on): directional derivatives match float32 central differences', () => {
    // Here the model's own float32 function is differenced, dropout masks fixed by the seed. Float32-aware step:
    // the loss carries rounding noise of ~1e-7 relative per output (so ~1e-7 of sum |out_i R_i| / (2 step) in the
    // quotient) while central-difference truncation grows as step^2; a relative step of 1e-2 keeps both near 1e-5
    // of the scale sum |g_i v_i| (measured 5e-6 to 2.3e-5 on cpu and wasm). Tolerance 2e-4 of the scale.
    const g = analytic(true);
    const model = TfjsModel.create(ir, theta);
    const lossAt = (p: Map<string, Float64Array>): number => {
      model.writeParams(new Map([...p].map(([n, a]) => [n, Float32Array.from(a)])));
      const out = tf.tidy(() =>
        model.apply(tf.tensor(x, [B, 8, 8, 3]), tf.tensor1d(t), tf.tensor1d(labels, 'int32'), {
          training: true,
          dropoutSeed: 42,
        }),
      );
      const l = loss64(out.dataSync());
      out.dispose();
      return l;
    };
    try {
      for (let k = 0; k < 2; k++) {
        const v = direction();
        const eps = 1e-2;
        const fd = (lossAt(shifted(v, eps)) - lossAt(shifted(v, -eps))) / (2 * eps);
        const { d, scale } = directional(g, v);
        expect(Math.abs(d - fd)).toBeLessThan(2e-4 * scale);
      }
    } finally {
      model.dispose();
    }
  });

  it.runIf(backend === 'cpu')('tfjs autodiff gives the same whole-model gradient as the custom gradients', () => {
    // autodiff is what the tensorflow / webgpu backends use; cpu is the one backend here that has all its kernels.
    // Batch 1 halves the cost of the cpu backend's slow Conv2DBackpropFilter.
    const one = makeCase(1);
    const custom = analytic(false, 'custom', one);
    const auto = analytic(false, 'autodiff', one);
    // Measured worst tensor: 1.7e-6 (max abs difference over the tensor's max abs value); float32 sums in a
    // different order. Tolerance 2e-5.
    for (const [name, g] of custom) expect(relErr(g, auto.get(name)!), name).toBeLessThan(2e-5);
  });

  it('tiny MLP (LayerNorm path, labels, learned variance): directional derivative matches the float64 reference', () => {
    const mir = buildIR(modelPreset('tiny', { channels: 2, numClasses: 3, learnedVariance: true }));
    const p0 = initParams(mir, 3);
    for (const [name, v] of p0) {
      const n = randn(v.length, 0.05);
      p0.set(
        name,
        v.map((u, i) => u + n[i]),
      );
    }
    const mx = randn(4 * 2);
    const mt = Float32Array.from([0, 5, 300, 999]);
    const ml = Int32Array.from([0, 1, 2, -1]);
    const mr = randn(4 * 4);
    const model = TfjsModel.create(mir, p0);
    let g: Map<string, Float32Array>;
    try {
      const gs = tf.tidy(
        () =>
          tf.variableGrads(
            () =>
              tf.sum(
                tf.mul(
                  model.apply(tf.tensor2d(mx, [4, 2]), tf.tensor1d(mt), tf.tensor1d(ml, 'int32'), { training: false }),
                  tf.tensor2d(mr, [4, 4]),
                ),
              ) as tf.Scalar,
            model.trainableVariables(),
          ).grads,
      );
      const vars = model.trainableVariables();
      g = new Map(
        mir.params.map((spec, i) => [spec.name, fromTfjsLayout(spec, gs[vars[i].name].dataSync() as Float32Array)]),
      );
      tf.dispose(Object.values(gs));
    } finally {
      model.dispose();
    }
    const v = new Map([...p0].map(([name, a]) => [name, randn(a.length, 0.1)]));
    const at = (eps: number): number => {
      const p = new Map([...p0].map(([name, a]) => [name, Float64Array.from(a, (u, i) => u + eps * v.get(name)![i])]));
      const out = runReference(mir, p, mx, mt, ml);
      return out.reduce((acc, o, i) => acc + o * mr[i], 0);
    };
    const fd = (at(1e-4) - at(-1e-4)) / 2e-4;
    const { d, scale } = directional(g, v);
    expect(Math.abs(d - fd)).toBeLessThan(1e-6 * scale); // as for the U-Net above
  });

  it('custom conv gradients (stride 1 and 2, even and odd sizes) match the cpu backend built-in ones to 1e-5', async () => {
    const cases = [
      [2, 8, 8, 3, 4, 1],
      [2, 8, 8, 3, 4, 2],
      [3, 7, 5, 2, 3, 2],
      [1, 5, 6, 4, 2, 1],
    ];
    const inputs = cases.map(([b, h, w, cin, cout, s]) => {
      const oh = Math.floor((h - 1) / s) + 1;
      const ow = Math.floor((w - 1) / s) + 1;
      return {
        s,
        x: { data: randn(b * h * w * cin), shape: [b, h, w, cin] },
        w: { data: randn(9 * cin * cout), shape: [3, 3, cin, cout] },
        dy: randn(b * oh * ow * cout),
        dyShape: [b, oh, ow, cout],
      };
    });
    const run = (mode: GradMode): Float32Array[][] =>
      inputs.map((c) =>
        grads(
          (xx, ww) =>
            tf.sum(tf.mul(conv2dTorch(xx as tf.Tensor4D, ww as tf.Tensor4D, c.s, mode), tf.tensor(c.dy, c.dyShape))),
          [c.x, c.w],
        ),
      );
    await useBackend('cpu');
    const expected = run('autodiff');
    await useBackend(backend);
    const actual = run('custom');
    actual.forEach((gs, i) => gs.forEach((g, j) => expect(relErr(g, expected[i][j])).toBeLessThan(1e-5)));
  });

  it('custom matmul and GroupNorm gradients match the cpu backend built-in ones to 1e-5', async () => {
    const a = { data: randn(2 * 5 * 6), shape: [2, 5, 6] };
    const b = { data: randn(2 * 6 * 4), shape: [2, 6, 4] };
    const r1 = randn(2 * 5 * 4);
    const gx = { data: randn(2 * 3 * 4 * 8, 2), shape: [2, 3, 4, 8] };
    const gamma = { data: randn(8), shape: [8] };
    const beta = { data: randn(8), shape: [8] };
    const r2 = randn(2 * 3 * 4 * 8);
    const run = (mode: GradMode): Float32Array[] => [
      ...grads((p, q) => tf.sum(tf.mul(matMul(p, q, mode), tf.tensor(r1, [2, 5, 4]))), [a, b]),
      ...grads(
        (xx, g, bb) =>
          tf.sum(tf.mul(groupNorm(xx, 4, 1e-5, g as tf.Tensor1D, bb as tf.Tensor1D, mode), tf.tensor(r2, gx.shape))),
        [gx, gamma, beta],
      ),
    ];
    await useBackend('cpu');
    const expected = run('autodiff');
    await useBackend(backend);
    const actual = run('custom');
    actual.forEach((g, i) => expect(relErr(g, expected[i])).toBeLessThan(1e-5));
  });

  it('upsampling gradient at batch > 1 is the sum over each 2x2 block', () => {
    const [b, h, w, c] = [3, 2, 3, 2];
    const dy = randn(b * 4 * h * w * c);
    const [g] = grads(
      (xx) => tf.sum(tf.mul(upsampleNearest2x(xx as tf.Tensor4D), tf.tensor(dy, [b, 2 * h, 2 * w, c]))),
      [{ data: randn(b * h * w * c), shape: [b, h, w, c] }],
    );
    const expected = new Float32Array(b * h * w * c);
    for (let n = 0; n < b; n++)
      for (let i = 0; i < 2 * h; i++)
        for (let j = 0; j < 2 * w; j++)
          for (let k = 0; k < c; k++)
            expected[((n * h + (i >> 1)) * w + (j >> 1)) * c + k] += dy[((n * 2 * h + i) * 2 * w + j) * c + k];
    expect(relErr(g, expected)).toBeLessThan(1e-6);
  });
});
