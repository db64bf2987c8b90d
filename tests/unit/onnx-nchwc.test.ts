// Blocked-layout convolutions (onnxruntime CPU's com.microsoft.nchwc kernels) in the compiled training step: the
// probed block size, one convolution and its gradients against the standard-Conv graph for every channel/stride
// case, the fallback where channels do not fit, and the training step choosing them on the cpu provider only.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { NormalStream } from '../../src/core/rng.ts';
import { makeSchedule } from '../../src/core/schedules.ts';
import { conv2d } from '../../src/engines/onnx/autodiff/conv.ts';
import { NCHWC_DOMAIN } from '../../src/engines/onnx/autodiff/nchwc-conv.ts';
import * as ops from '../../src/engines/onnx/autodiff/ops.ts';
import { Tape } from '../../src/engines/onnx/autodiff/tape.ts';
import { nchwcBlockSize } from '../../src/engines/onnx/nchwc.ts';
import { decodeModel } from '../../src/engines/onnx/onnx-proto.ts';
import { OnnxTrainStep } from '../../src/engines/onnx/train-step.ts';
import { modelPreset } from '../../src/model/config.ts';
import { initParams } from '../../src/model/init.ts';
import { buildIR } from '../../src/model/ir.ts';
import { relL2Error } from './helpers/relative-error.ts';

const block = await nchwcBlockSize();

let stream = 0;
function randn(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  new NormalStream(5, stream++, 0).fill(out);
  return out.map((v) => v * scale);
}

interface ConvCase {
  n: number;
  cin: number;
  cout: number;
  hw: number;
  k: number;
  s: number;
}

/** y = conv(x, w) + b and d sum(y * r) / d (x, w, b) through a tape with the given block size (null: standard). */
async function convAndGradients(c: ConvCase, nchwcBlock: number | null, data: Float32Array[]) {
  const t = new Tape({ nchwcBlock });
  const x = t.input('x', [c.n, c.cin, c.hw, c.hw], 'float', true);
  const w = t.input('w', [c.cout, c.cin, c.k, c.k], 'float', true);
  const b = t.input('b', [c.cout], 'float', true);
  const y = conv2d(t, x, w, b, { kernel: c.k, stride: c.s });
  const r = t.input('r', y.shape);
  const grads = t.gradients(ops.reduceSum(t, ops.mul(t, y, r), [0, 1, 2, 3]), [x, w, b]);
  t.output('y', y);
  grads.forEach((g, i) => t.output(`g${i}`, g));
  const bytes = t.encode('conv', 17);
  // Roles (node hints) of the blocked convolutions: Conv (forward), ConvDX (input gradient).
  const blockedNodes = t.nodes
    .filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv')
    .map((n) => n.name.replace(/_\d+$/, ''));
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  const shapes = [x.shape, w.shape, b.shape, y.shape];
  const feeds = Object.fromEntries(
    ['x', 'w', 'b', 'r'].map((name, i) => [name, new ort.Tensor('float32', data[i], [...shapes[i]])]),
  );
  const out = await session.run(feeds);
  await session.release();
  return { blockedNodes, outs: ['y', 'g0', 'g1', 'g2'].map((k) => out[k].data as Float32Array) };
}

describe.skipIf(block === null)('blocked convolutions (onnxruntime nchwc)', () => {
  it('the probed block size is what MLAS uses on x86-64 (8 with AVX2, 16 with AVX-512)', () => {
    if (process.arch === 'x64') expect([8, 16]).toContain(block);
    expect(block! % 4).toBe(0);
  });

  const B = block ?? 8;
  // blocked: which convolutions run on the blocked kernels, the forward (Conv) and the input gradient (ConvDX, a
  // convolution from cout to cin channels at stride 1; a ConvTranspose at stride 2).
  const cases: (ConvCase & { blocked: string[]; why: string })[] = [
    { n: 2, cin: 1, cout: B, hw: 6, k: 3, s: 1, blocked: ['Conv'], why: 'NCHW input (fewer channels than a block)' },
    { n: 2, cin: 3, cout: 2 * B, hw: 7, k: 3, s: 2, blocked: ['Conv'], why: 'NCHW input, stride 2, odd size' },
    { n: 2, cin: B, cout: 2 * B, hw: 5, k: 3, s: 1, blocked: ['Conv', 'ConvDX'], why: 'blocked input and output' },
    { n: 3, cin: 2 * B, cout: B, hw: 6, k: 3, s: 2, blocked: ['Conv'], why: 'stride 2, even size' },
    { n: 2, cin: 2 * B, cout: B, hw: 4, k: 1, s: 1, blocked: ['Conv', 'ConvDX'], why: 'pointwise' },
    { n: 2, cin: 3, cout: B, hw: 4, k: 1, s: 1, blocked: ['Conv'], why: 'pointwise, NCHW input' },
    { n: 2, cin: B, cout: 3, hw: 5, k: 3, s: 1, blocked: ['ConvDX'], why: 'output channels not a block multiple' },
    { n: 2, cin: B + 4, cout: B, hw: 5, k: 3, s: 1, blocked: [], why: 'input channels not a block multiple' },
  ];
  for (const c of cases) {
    it(`equals the standard Conv, forward and gradients: ${c.cin} -> ${c.cout}, k${c.k} s${c.s}, ${c.why}`, async () => {
      const ho = Math.floor((c.hw + 2 * (c.k >> 1) - c.k) / c.s) + 1;
      const data = [
        randn(c.n * c.cin * c.hw * c.hw),
        randn(c.cout * c.cin * c.k * c.k, 1 / Math.sqrt(c.cin * c.k * c.k)),
        randn(c.cout),
        randn(c.n * c.cout * ho * ho),
      ];
      const ref = await convAndGradients(c, null, data);
      const got = await convAndGradients(c, block, data);
      expect(ref.blockedNodes).toEqual([]);
      expect(got.blockedNodes).toEqual(c.blocked);
      ['y', 'dx', 'dw', 'db'].forEach((name, i) => {
        expect(relL2Error(got.outs[i], ref.outs[i]), name).toBeLessThan(1e-5);
      });
    });
  }

  it('the training step runs its convolutions blocked on the cpu provider, and not when told otherwise', async () => {
    const ir = buildIR(modelPreset('tiny', { channels: 1, size: 8 }));
    const spec = {
      batch: 2,
      prediction: 'eps' as const,
      learnedVariance: false,
      discreteData: true,
      timesteps: 1000,
      mode: 'gradients' as const,
    };
    const schedule = makeSchedule('linear', 1000);
    const blockedNodes = async (blockedConvolutions: boolean) => {
      const step = await OnnxTrainStep.create(ir, spec, schedule, initParams(ir, 0), {
        providers: ['cpu'],
        blockedConvolutions,
      });
      await step.dispose();
      const model = decodeModel(step.graph.bytes);
      return {
        count: model.graph.node.filter((n) => n.domain === NCHWC_DOMAIN).length,
        domains: model.opsetImport.map((o) => o.domain || ''),
        spec: step.graph.spec.nchwcBlock,
      };
    };
    const on = await blockedNodes(true);
    expect(on.count).toBeGreaterThan(10);
    expect(on.domains).toContain(NCHWC_DOMAIN);
    expect(on.spec).toBe(block);
    const off = await blockedNodes(false);
    expect(off).toEqual({ count: 0, domains: [''], spec: null });
  });
});
