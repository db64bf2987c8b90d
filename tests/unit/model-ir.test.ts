import { describe, expect, it } from 'vitest';
import {
  modelPreset,
  validateModelConfig,
  ModelConfigError,
  type ModelConfig,
  type UNetConfig,
} from '../../src/model/config.ts';
import { buildIR, checkIR, paramCount, IR_OPS, type ModelIR } from '../../src/model/ir.ts';
import { initParams, nameHash } from '../../src/model/init.ts';
import { runReference } from '../../src/model/reference.ts';

const tiny = (): UNetConfig =>
  modelPreset('tiny', { channels: 1, size: 28, numClasses: 10, learnedVariance: true }) as UNetConfig;

/** Checkpoint tensor names of the tiny preset (28x28x1, 10 classes, learned variance): never change them. */
const TINY_PARAMS = [
  'time_embed.0.weight 64x16',
  'time_embed.0.bias 64',
  'time_embed.2.weight 64x64',
  'time_embed.2.bias 64',
  'label_embed.weight 11x64',
  'conv_in.weight 16x1x3x3',
  'conv_in.bias 16',
  'down.0.res.0.norm1.weight 16',
  'down.0.res.0.norm1.bias 16',
  'down.0.res.0.conv1.weight 16x16x3x3',
  'down.0.res.0.conv1.bias 16',
  'down.0.res.0.emb_proj.weight 16x64',
  'down.0.res.0.emb_proj.bias 16',
  'down.0.res.0.norm2.weight 16',
  'down.0.res.0.norm2.bias 16',
  'down.0.res.0.conv2.weight 16x16x3x3',
  'down.0.res.0.conv2.bias 16',
  'down.0.downsample.weight 16x16x3x3',
  'down.0.downsample.bias 16',
  'down.1.res.0.norm1.weight 16',
  'down.1.res.0.norm1.bias 16',
  'down.1.res.0.conv1.weight 32x16x3x3',
  'down.1.res.0.conv1.bias 32',
  'down.1.res.0.emb_proj.weight 32x64',
  'down.1.res.0.emb_proj.bias 32',
  'down.1.res.0.norm2.weight 32',
  'down.1.res.0.norm2.bias 32',
  'down.1.res.0.conv2.weight 32x32x3x3',
  'down.1.res.0.conv2.bias 32',
  'down.1.res.0.skip.weight 32x16x1x1',
  'down.1.res.0.skip.bias 32',
  'down.1.downsample.weight 32x32x3x3',
  'down.1.downsample.bias 32',
  'down.2.res.0.norm1.weight 32',
  'down.2.res.0.norm1.bias 32',
  'down.2.res.0.conv1.weight 32x32x3x3',
  'down.2.res.0.conv1.bias 32',
  'down.2.res.0.emb_proj.weight 32x64',
  'down.2.res.0.emb_proj.bias 32',
  'down.2.res.0.norm2.weight 32',
  'down.2.res.0.norm2.bias 32',
  'down.2.res.0.conv2.weight 32x32x3x3',
  'down.2.res.0.conv2.bias 32',
  'down.2.attn.0.norm.weight 32',
  'down.2.attn.0.norm.bias 32',
  'down.2.attn.0.qkv.weight 96x32',
  'down.2.attn.0.qkv.bias 96',
  'down.2.attn.0.proj.weight 32x32',
  'down.2.attn.0.proj.bias 32',
  'mid.res.0.norm1.weight 32',
  'mid.res.0.norm1.bias 32',
  'mid.res.0.conv1.weight 32x32x3x3',
  'mid.res.0.conv1.bias 32',
  'mid.res.0.emb_proj.weight 32x64',
  'mid.res.0.emb_proj.bias 32',
  'mid.res.0.norm2.weight 32',
  'mid.res.0.norm2.bias 32',
  'mid.res.0.conv2.weight 32x32x3x3',
  'mid.res.0.conv2.bias 32',
  'mid.attn.0.norm.weight 32',
  'mid.attn.0.norm.bias 32',
  'mid.attn.0.qkv.weight 96x32',
  'mid.attn.0.qkv.bias 96',
  'mid.attn.0.proj.weight 32x32',
  'mid.attn.0.proj.bias 32',
  'mid.res.1.norm1.weight 32',
  'mid.res.1.norm1.bias 32',
  'mid.res.1.conv1.weight 32x32x3x3',
  'mid.res.1.conv1.bias 32',
  'mid.res.1.emb_proj.weight 32x64',
  'mid.res.1.emb_proj.bias 32',
  'mid.res.1.norm2.weight 32',
  'mid.res.1.norm2.bias 32',
  'mid.res.1.conv2.weight 32x32x3x3',
  'mid.res.1.conv2.bias 32',
  'up.2.res.0.norm1.weight 64',
  'up.2.res.0.norm1.bias 64',
  'up.2.res.0.conv1.weight 32x64x3x3',
  'up.2.res.0.conv1.bias 32',
  'up.2.res.0.emb_proj.weight 32x64',
  'up.2.res.0.emb_proj.bias 32',
  'up.2.res.0.norm2.weight 32',
  'up.2.res.0.norm2.bias 32',
  'up.2.res.0.conv2.weight 32x32x3x3',
  'up.2.res.0.conv2.bias 32',
  'up.2.res.0.skip.weight 32x64x1x1',
  'up.2.res.0.skip.bias 32',
  'up.2.attn.0.norm.weight 32',
  'up.2.attn.0.norm.bias 32',
  'up.2.attn.0.qkv.weight 96x32',
  'up.2.attn.0.qkv.bias 96',
  'up.2.attn.0.proj.weight 32x32',
  'up.2.attn.0.proj.bias 32',
  'up.2.res.1.norm1.weight 64',
  'up.2.res.1.norm1.bias 64',
  'up.2.res.1.conv1.weight 32x64x3x3',
  'up.2.res.1.conv1.bias 32',
  'up.2.res.1.emb_proj.weight 32x64',
  'up.2.res.1.emb_proj.bias 32',
  'up.2.res.1.norm2.weight 32',
  'up.2.res.1.norm2.bias 32',
  'up.2.res.1.conv2.weight 32x32x3x3',
  'up.2.res.1.conv2.bias 32',
  'up.2.res.1.skip.weight 32x64x1x1',
  'up.2.res.1.skip.bias 32',
  'up.2.attn.1.norm.weight 32',
  'up.2.attn.1.norm.bias 32',
  'up.2.attn.1.qkv.weight 96x32',
  'up.2.attn.1.qkv.bias 96',
  'up.2.attn.1.proj.weight 32x32',
  'up.2.attn.1.proj.bias 32',
  'up.2.upsample.weight 32x32x3x3',
  'up.2.upsample.bias 32',
  'up.1.res.0.norm1.weight 64',
  'up.1.res.0.norm1.bias 64',
  'up.1.res.0.conv1.weight 32x64x3x3',
  'up.1.res.0.conv1.bias 32',
  'up.1.res.0.emb_proj.weight 32x64',
  'up.1.res.0.emb_proj.bias 32',
  'up.1.res.0.norm2.weight 32',
  'up.1.res.0.norm2.bias 32',
  'up.1.res.0.conv2.weight 32x32x3x3',
  'up.1.res.0.conv2.bias 32',
  'up.1.res.0.skip.weight 32x64x1x1',
  'up.1.res.0.skip.bias 32',
  'up.1.res.1.norm1.weight 48',
  'up.1.res.1.norm1.bias 48',
  'up.1.res.1.conv1.weight 32x48x3x3',
  'up.1.res.1.conv1.bias 32',
  'up.1.res.1.emb_proj.weight 32x64',
  'up.1.res.1.emb_proj.bias 32',
  'up.1.res.1.norm2.weight 32',
  'up.1.res.1.norm2.bias 32',
  'up.1.res.1.conv2.weight 32x32x3x3',
  'up.1.res.1.conv2.bias 32',
  'up.1.res.1.skip.weight 32x48x1x1',
  'up.1.res.1.skip.bias 32',
  'up.1.upsample.weight 32x32x3x3',
  'up.1.upsample.bias 32',
  'up.0.res.0.norm1.weight 48',
  'up.0.res.0.norm1.bias 48',
  'up.0.res.0.conv1.weight 16x48x3x3',
  'up.0.res.0.conv1.bias 16',
  'up.0.res.0.emb_proj.weight 16x64',
  'up.0.res.0.emb_proj.bias 16',
  'up.0.res.0.norm2.weight 16',
  'up.0.res.0.norm2.bias 16',
  'up.0.res.0.conv2.weight 16x16x3x3',
  'up.0.res.0.conv2.bias 16',
  'up.0.res.0.skip.weight 16x48x1x1',
  'up.0.res.0.skip.bias 16',
  'up.0.res.1.norm1.weight 32',
  'up.0.res.1.norm1.bias 32',
  'up.0.res.1.conv1.weight 16x32x3x3',
  'up.0.res.1.conv1.bias 16',
  'up.0.res.1.emb_proj.weight 16x64',
  'up.0.res.1.emb_proj.bias 16',
  'up.0.res.1.norm2.weight 16',
  'up.0.res.1.norm2.bias 16',
  'up.0.res.1.conv2.weight 16x16x3x3',
  'up.0.res.1.conv2.bias 16',
  'up.0.res.1.skip.weight 16x32x1x1',
  'up.0.res.1.skip.bias 16',
  'norm_out.weight 16',
  'norm_out.bias 16',
  'conv_out.weight 2x16x3x3',
  'conv_out.bias 2',
];

describe('presets', () => {
  it('base is the DDPM CIFAR-10 U-Net: 35.7M parameters at 32x32 RGB', () => {
    const c = modelPreset('base', { channels: 3, size: 32 }) as UNetConfig;
    expect(c).toMatchObject({
      baseChannels: 128,
      channelMults: [1, 2, 2, 2],
      numResBlocks: 2,
      attentionResolutions: [16],
    });
    expect(c.dropout).toBe(0.1);
    // Ho et al. 2020 report 35.7M; the exact count of their architecture (e.g. the PyTorch port of the released
    // TF checkpoint) is 35,746,307.
    expect(paramCount(c)).toBe(35_746_307);
  });

  it('small has 1-2M parameters at 28x28 and 32x32, tiny far fewer', () => {
    const s28 = paramCount(modelPreset('small', { channels: 1, size: 28 }));
    const s32 = paramCount(modelPreset('small', { channels: 3, size: 32 }));
    expect(s28).toBeGreaterThan(1e6);
    expect(s28).toBeLessThan(2e6);
    expect(s32).toBeGreaterThan(1e6);
    expect(s32).toBeLessThan(2e6);
    expect(paramCount(modelPreset('tiny', { channels: 1, size: 28 }))).toBeLessThan(400_000);
  });

  it('fits the level count to the image size and puts attention on a real level', () => {
    const c = modelPreset('small', { channels: 1, size: 28 }) as UNetConfig;
    expect(c.channelMults).toEqual([1, 2, 2]);
    expect(c.attentionResolutions).toEqual([7]);
    expect((modelPreset('small', { channels: 3, size: 32 }) as UNetConfig).attentionResolutions).toEqual([8]);
    expect((modelPreset('base', { channels: 1, size: 28 }) as UNetConfig).channelMults).toEqual([1, 2, 2]);
  });

  it('maps vector data to MLPs', () => {
    const c = modelPreset('tiny', { channels: 2, numClasses: 3, learnedVariance: true });
    expect(c).toMatchObject({ kind: 'mlp', dim: 2, numClasses: 3, learnedVariance: true });
    const ir = buildIR(c);
    expect(ir.inputs.x.shape).toEqual([2]);
    expect(ir.outputChannels).toBe(4);
    expect(paramCount(c)).toBeLessThan(paramCount(modelPreset('small', { channels: 2 })));
  });
});

describe('IR', () => {
  const configs: ModelConfig[] = [
    tiny(),
    modelPreset('tiny', { channels: 3, size: 8 }),
    modelPreset('small', { channels: 1, size: 28, numClasses: 10 }),
    modelPreset('small', { channels: 3, size: 32, learnedVariance: true }),
    modelPreset('base', { channels: 3, size: 32 }),
    modelPreset('small', { channels: 2, numClasses: 4, learnedVariance: true }),
  ];

  it('infers consistent shapes for every preset, and the output matches the input layout', () => {
    for (const c of configs) {
      const ir = buildIR(c);
      const shapes = checkIR(ir);
      const out = shapes.get('out') as number[];
      const x = ir.inputs.x.shape;
      expect(out).toEqual([...x.slice(0, -1), x[x.length - 1] * (c.learnedVariance ? 2 : 1)]);
      expect(ir.nodes.every((n) => IR_OPS.includes(n.op))).toBe(true);
      expect(Boolean(ir.inputs.label)).toBe(c.numClasses > 0);
    }
  });

  it('is plain data (JSON round trip gives the same IR)', () => {
    const ir = buildIR(tiny());
    const copy = JSON.parse(JSON.stringify(ir)) as ModelIR;
    expect(copy).toEqual(ir);
    expect(() => checkIR(copy)).not.toThrow();
  });

  it('keeps the tiny preset parameter names and shapes stable', () => {
    const ir = buildIR(tiny());
    expect(ir.params.map((p) => `${p.name} ${p.shape.join('x')}`)).toEqual(TINY_PARAMS);
  });

  it('zero-initializes the last conv of each residual block, attention projections and conv_out', () => {
    const ir = buildIR(tiny());
    const zero = ir.params.filter((p) => p.init.kind === 'zeros' && p.name.endsWith('.weight')).map((p) => p.name);
    expect(zero.every((n) => /(\.conv2|\.proj|^conv_out)\.weight$/.test(n))).toBe(true);
    expect(zero.filter((n) => n.endsWith('conv2.weight'))).toHaveLength(
      ir.params.filter((p) => p.name.endsWith('conv2.weight')).length,
    );
    expect(zero).toContain('conv_out.weight');
  });

  it('rejects inconsistent graphs', () => {
    const ir = buildIR(tiny());
    const bad1 = structuredClone(ir);
    bad1.nodes[5].shape = [1, 2, 3];
    expect(() => checkIR(bad1)).toThrow(/records shape/);
    const bad2 = structuredClone(ir);
    bad2.params = bad2.params.filter((p) => p.name !== 'conv_in.weight');
    expect(() => checkIR(bad2)).toThrow(/unknown parameter conv_in.weight/);
    const bad3 = structuredClone(ir);
    bad3.params.find((p) => p.name === 'conv_in.weight')!.shape = [16, 2, 3, 3];
    expect(() => checkIR(bad3)).toThrow(/has shape/);
    const bad4 = structuredClone(ir);
    bad4.nodes[3].inputs = ['nowhere'];
    expect(() => checkIR(bad4)).toThrow(/undefined value "nowhere"/);
  });
});

describe('validateModelConfig', () => {
  const bad =
    (patch: Partial<UNetConfig>): (() => void) =>
    () =>
      validateModelConfig({ ...tiny(), ...patch });
  it('names each problem', () => {
    expect(bad({ groups: 5 })).toThrow(/channels 16 .* not divisible by groups 5/);
    expect(bad({ imageSize: 30 })).toThrow(/imageSize 30 must be divisible by 2\^\(levels-1\) = 4/);
    expect(bad({ attentionResolutions: [10] })).toThrow(
      /attention resolution 10 is not one of the feature-map sizes 28, 14/,
    );
    expect(bad({ numHeads: 3 })).toThrow(/not divisible by numHeads 3/);
    expect(bad({ dropout: 1 })).toThrow(/dropout must be in \[0, 1\)/);
    expect(bad({ baseChannels: 15, groups: 1 })).toThrow(/baseChannels must be even/);
    expect(bad({ channelMults: [] })).toThrow(/channelMults/);
    expect(bad({ numClasses: -1 })).toThrow(ModelConfigError);
    expect(() =>
      validateModelConfig({
        kind: 'mlp',
        dim: 2,
        hidden: 63,
        depth: 2,
        numClasses: 0,
        learnedVariance: false,
        dropout: 0,
      }),
    ).toThrow(/hidden must be a positive even integer/);
    expect(() => validateModelConfig({ kind: 'cnn' } as unknown as ModelConfig)).toThrow(/unknown model kind "cnn"/);
    expect(() => modelPreset('huge' as 'tiny', { channels: 1, size: 28 })).toThrow(/unknown preset "huge"/);
  });
});

describe('initParams', () => {
  const ir = buildIR(tiny());

  it('is deterministic for a seed and differs across seeds', () => {
    const a = initParams(ir, 7);
    const b = initParams(ir, 7);
    const c = initParams(ir, 8);
    const same = (u: Float32Array, v: Float32Array): boolean => u.length === v.length && u.every((q, i) => q === v[i]);
    expect(ir.params.every((p) => same(a.get(p.name)!, b.get(p.name)!))).toBe(true);
    const w = 'down.0.res.0.conv1.weight';
    expect(c.get(w)).not.toEqual(a.get(w));
    expect(c.get('label_embed.weight')).not.toEqual(a.get('label_embed.weight'));
  });

  it('follows the recipes: PyTorch-default uniform bounds, zeros, ones, N(0, 1) embeddings', () => {
    const p = initParams(ir, 1);
    const w = p.get('down.1.res.0.conv1.weight')!; // fan_in 16 * 9
    const bound = 1 / Math.sqrt(16 * 9);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const varc = w.reduce((s, v) => s + v * v, 0) / w.length;
    expect(Math.abs(mean)).toBeLessThan(0.1 * bound);
    expect(varc).toBeCloseTo((bound * bound) / 3, 3); // U(-b, b) has variance b^2 / 3
    expect(p.get('down.1.res.0.conv1.bias')!.every((v) => v === 0)).toBe(true);
    expect(p.get('conv_out.weight')!.every((v) => v === 0)).toBe(true);
    expect(p.get('norm_out.weight')!.every((v) => v === 1)).toBe(true);
    const e = p.get('label_embed.weight')!;
    const es = e.reduce((s, v) => s + v * v, 0) / e.length;
    expect(es).toBeGreaterThan(0.75);
    expect(es).toBeLessThan(1.3);
  });

  it('draws each parameter from its own stream: other layers do not change it', () => {
    const uncond = buildIR({ ...tiny(), numClasses: 0 });
    const a = initParams(ir, 3);
    const b = initParams(uncond, 3);
    expect(b.get('down.0.res.0.conv1.weight')).toEqual(a.get('down.0.res.0.conv1.weight'));
    expect(new Set(ir.params.map((q) => nameHash(q.name))).size).toBe(ir.params.length); // no stream collisions
  });
});

describe('reference interpreter', () => {
  it('gives zeros at initialization (zero conv_out) and shape B x output', () => {
    const ir = buildIR(modelPreset('tiny', { channels: 1, size: 4, numClasses: 2 }));
    const out = runReference(
      ir,
      initParams(ir, 0),
      new Float32Array(2 * 16).fill(0.5),
      Float64Array.from([1, 500]),
      null,
    );
    expect(out).toHaveLength(2 * 16);
    expect(out.every((v) => v === 0)).toBe(true);
  });
});
