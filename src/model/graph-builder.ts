/** Builds IR graphs: adds parameters and nodes with their shapes (used by unet-ir.ts and mlp-ir.ts). */
import type { AffineParams, IrNode, ParamInit, ParamSpec } from './ir.ts';

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Builds an IR graph: adds parameters and nodes with their shapes. Used by unet-ir.ts and mlp-ir.ts; keeps the two
 * builders short and every parameter name written in exactly one place.
 */
export class GraphBuilder {
  readonly params: ParamSpec[] = [];
  readonly nodes: IrNode[] = [];
  private readonly shapes = new Map<string, number[]>();

  constructor(inputs: Record<string, number[]>) {
    for (const [k, s] of Object.entries(inputs)) this.shapes.set(k, s);
  }

  shape(v: string): number[] {
    const s = this.shapes.get(v);
    if (!s) throw new Error(`undefined value ${v}`);
    return s;
  }

  channels(v: string): number {
    const s = this.shape(v);
    return s[s.length - 1];
  }

  private node<N extends IrNode>(n: N): string {
    this.nodes.push(n);
    this.shapes.set(n.output, n.shape);
    return n.output;
  }

  private affine(name: string, weightShape: number[], layout: 'conv2d' | 'linear', zeroInit: boolean): AffineParams {
    // PyTorch's default (kaiming_uniform with a = sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); biases start at 0.
    const fanIn = numel(weightShape.slice(1));
    const init: ParamInit = zeroInit ? { kind: 'zeros' } : { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) };
    this.params.push({ name: `${name}.weight`, shape: weightShape, layout, init });
    this.params.push({ name: `${name}.bias`, shape: [weightShape[0]], layout: 'vector', init: { kind: 'zeros' } });
    return { weight: `${name}.weight`, bias: `${name}.bias` };
  }

  private norm(name: string, c: number): AffineParams {
    this.params.push({ name: `${name}.weight`, shape: [c], layout: 'vector', init: { kind: 'ones' } });
    this.params.push({ name: `${name}.bias`, shape: [c], layout: 'vector', init: { kind: 'zeros' } });
    return { weight: `${name}.weight`, bias: `${name}.bias` };
  }

  conv(name: string, x: string, out: number, o: { kernel?: 1 | 3; stride?: 1 | 2; zeroInit?: boolean } = {}): string {
    const kernel = o.kernel ?? 3;
    const stride = o.stride ?? 1;
    const [h, w, cin] = this.shape(x);
    const p = kernel >> 1;
    const d = (n: number): number => Math.floor((n + 2 * p - kernel) / stride) + 1;
    const params = this.affine(name, [out, cin, kernel, kernel], 'conv2d', o.zeroInit ?? false);
    return this.node({ op: 'conv2d', inputs: [x], output: name, shape: [d(h), d(w), out], kernel, stride, params });
  }

  linear(name: string, x: string, out: number, zeroInit = false): string {
    const s = this.shape(x);
    const params = this.affine(name, [out, s[s.length - 1]], 'linear', zeroInit);
    return this.node({ op: 'linear', inputs: [x], output: name, shape: [...s.slice(0, -1), out], params });
  }

  groupNorm(name: string, x: string, groups: number, eps = 1e-5): string {
    const params = this.norm(name, this.channels(x));
    return this.node({ op: 'group_norm', inputs: [x], output: name, shape: this.shape(x), groups, eps, params });
  }

  silu(x: string, output = `${x}.silu`): string {
    return this.node({ op: 'silu', inputs: [x], output, shape: this.shape(x) });
  }

  add(a: string, b: string, output: string): string {
    return this.node({ op: 'add', inputs: [a, b], output, shape: this.shape(a) });
  }

  addBroadcast(x: string, v: string, output: string): string {
    return this.node({ op: 'add_broadcast', inputs: [x, v], output, shape: this.shape(x) });
  }

  timestepEmbedding(t: string, dim: number, output: string, maxPeriod = 10000): string {
    return this.node({ op: 'timestep_embedding', inputs: [t], output, shape: [dim], dim, maxPeriod });
  }

  embedding(name: string, label: string, rows: number, dim: number): string {
    // nn.Embedding's default init is N(0, 1).
    this.params.push({
      name: `${name}.weight`,
      shape: [rows, dim],
      layout: 'embedding',
      init: { kind: 'normal', std: 1 },
    });
    return this.node({
      op: 'embedding',
      inputs: [label],
      output: name,
      shape: [dim],
      params: { weight: `${name}.weight` },
    });
  }

  upsample(x: string, output: string): string {
    const [h, w, c] = this.shape(x);
    return this.node({ op: 'upsample_nearest_2x', inputs: [x], output, shape: [2 * h, 2 * w, c] });
  }

  concat(xs: string[], output: string): string {
    const s = this.shape(xs[0]);
    const c = xs.reduce((n, v) => n + this.channels(v), 0);
    return this.node({ op: 'concat_channels', inputs: xs, output, shape: [...s.slice(0, -1), c] });
  }

  attention(name: string, x: string, heads: number, groups: number, eps = 1e-5): string {
    const c = this.channels(x);
    const norm = this.norm(`${name}.norm`, c);
    const qkv = this.affine(`${name}.qkv`, [3 * c, c], 'linear', false);
    const proj = this.affine(`${name}.proj`, [c, c], 'linear', true); // zero-init: the block starts as identity
    return this.node({
      op: 'self_attention',
      inputs: [x],
      output: name,
      shape: this.shape(x),
      heads,
      groups,
      eps,
      params: { norm, qkv, proj },
    });
  }

  dropout(x: string, rate: number, output = `${x}.dropout`): string {
    if (rate === 0) return x;
    return this.node({ op: 'dropout', inputs: [x], output, shape: this.shape(x), rate });
  }

  output(x: string): void {
    this.node({ op: 'output', inputs: [x], output: 'out', shape: this.shape(x) });
  }
}
