/**
 * A residual MLP denoiser for vector data, built from the same ops as the U-Net: sinusoidal time embedding and time
 * MLP (plus an optional class embedding), an input projection, `depth` pre-norm residual blocks
 * (LayerNorm as 1-group GroupNorm, SiLU, linear, + projected embedding, LayerNorm, SiLU, dropout, zero-init linear),
 * then LayerNorm, SiLU and a zero-init output projection.
 *
 * Parameter names (stable): time_embed.0, time_embed.2, label_embed, input,
 * blocks.{i}.{norm1,fc1,emb_proj,norm2,fc2}, norm_out, output.
 */
import { validateModelConfig, type MlpConfig } from './config.ts';
import { GraphBuilder } from './graph-builder.ts';
import type { ModelIR } from './ir.ts';

export function buildMlpIR(c: MlpConfig): ModelIR {
  validateModelConfig(c);
  const inputs: Record<string, number[]> = { x: [c.dim], t: [] };
  if (c.numClasses > 0) inputs.label = [];
  const g = new GraphBuilder(inputs);

  let emb = g.timestepEmbedding('t', c.hidden, 'time_embed.sinusoidal');
  emb = g.linear('time_embed.0', emb, c.hidden);
  emb = g.silu(emb);
  emb = g.linear('time_embed.2', emb, c.hidden);
  if (c.numClasses > 0) emb = g.add(emb, g.embedding('label_embed', 'label', c.numClasses + 1, c.hidden), 'emb');
  const embAct = g.silu(emb, 'emb.silu');

  let h = g.linear('input', 'x', c.hidden);
  for (let i = 0; i < c.depth; i++) {
    const name = `blocks.${i}`;
    let r = g.silu(g.groupNorm(`${name}.norm1`, h, 1));
    r = g.linear(`${name}.fc1`, r, c.hidden);
    r = g.add(r, g.linear(`${name}.emb_proj`, embAct, c.hidden), `${name}.with_emb`);
    r = g.silu(g.groupNorm(`${name}.norm2`, r, 1));
    r = g.dropout(r, c.dropout);
    r = g.linear(`${name}.fc2`, r, c.hidden, true);
    h = g.add(h, r, name);
  }
  h = g.silu(g.groupNorm('norm_out', h, 1));
  const outputChannels = c.dim * (c.learnedVariance ? 2 : 1);
  h = g.linear('output', h, outputChannels, true);
  g.output(h);

  return {
    config: c,
    inputs: { x: { shape: [c.dim] }, t: {}, ...(c.numClasses > 0 ? { label: { numClasses: c.numClasses } } : {}) },
    outputChannels,
    params: g.params,
    nodes: g.nodes,
  };
}
