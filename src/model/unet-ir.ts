/**
 * The U-Net of DDPM (Ho et al. 2020) / improved DDPM (Nichol & Dhariwal 2021) as IR. With the DDPM CIFAR-10
 * settings (base 128, mults [1, 2, 2, 2], 2 res blocks, attention at 16) it has the published 35.7M parameters.
 *
 * Parameter names (stable; checkpoints use them):
 *   time_embed.0, time_embed.2          linear: sinusoidal(baseChannels) -> 4C -> SiLU -> 4C
 *   label_embed                         [numClasses + 1, 4C], added to the time embedding (last row = null class)
 *   conv_in
 *   down.{level}.res.{j}.{norm1,conv1,emb_proj,norm2,conv2,skip}   skip: 1x1 conv, only when channels change
 *   down.{level}.attn.{j}.{norm,qkv,proj}                         at levels listed in attentionResolutions
 *   down.{level}.downsample             3x3 conv, stride 2 (all levels but the last)
 *   mid.res.0, mid.attn.0, mid.res.1
 *   up.{level}.res.{j} (j <= numResBlocks), up.{level}.attn.{j}, up.{level}.upsample (nearest 2x, then 3x3 conv)
 *   norm_out, conv_out
 * Up levels are numbered like down levels (0 = full resolution) and run from the deepest. conv2 of every residual
 * block, every attention proj and conv_out start at zero, as in DDPM / ADM: each block starts as the identity.
 */
import { levelSizes, validateModelConfig, type UNetConfig } from './config.ts';
import { GraphBuilder } from './graph-builder.ts';
import type { ModelIR } from './ir.ts';

export function buildUNetIR(c: UNetConfig): ModelIR {
  validateModelConfig(c);
  const { imageSize: s, inChannels, baseChannels: ch, groups } = c;
  const embDim = 4 * ch;
  const inputs: Record<string, number[]> = { x: [s, s, inChannels], t: [] };
  if (c.numClasses > 0) inputs.label = [];
  const g = new GraphBuilder(inputs);

  // Conditioning vector shared by every residual block.
  let emb = g.timestepEmbedding('t', ch, 'time_embed.sinusoidal');
  emb = g.linear('time_embed.0', emb, embDim);
  emb = g.silu(emb);
  emb = g.linear('time_embed.2', emb, embDim);
  if (c.numClasses > 0) emb = g.add(emb, g.embedding('label_embed', 'label', c.numClasses + 1, embDim), 'emb');
  const embAct = g.silu(emb, 'emb.silu');

  const resBlock = (name: string, x: string, out: number): string => {
    let h = g.silu(g.groupNorm(`${name}.norm1`, x, groups));
    h = g.conv(`${name}.conv1`, h, out);
    h = g.addBroadcast(h, g.linear(`${name}.emb_proj`, embAct, out), `${name}.with_emb`);
    h = g.silu(g.groupNorm(`${name}.norm2`, h, groups));
    h = g.dropout(h, c.dropout);
    h = g.conv(`${name}.conv2`, h, out, { zeroInit: true });
    const skip = g.channels(x) === out ? x : g.conv(`${name}.skip`, x, out, { kernel: 1 });
    return g.add(skip, h, name);
  };
  const attnBlock = (name: string, x: string): string =>
    g.add(x, g.attention(name, x, c.numHeads, groups), `${name}.residual`);

  const sizes = levelSizes(c);
  const last = c.channelMults.length - 1;
  const hasAttn = (level: number): boolean => c.attentionResolutions.includes(sizes[level]);

  let h = g.conv('conv_in', 'x', ch);
  const skips = [h];
  c.channelMults.forEach((mult, level) => {
    for (let j = 0; j < c.numResBlocks; j++) {
      h = resBlock(`down.${level}.res.${j}`, h, ch * mult);
      if (hasAttn(level)) h = attnBlock(`down.${level}.attn.${j}`, h);
      skips.push(h);
    }
    if (level !== last) {
      h = g.conv(`down.${level}.downsample`, h, g.channels(h), { stride: 2 });
      skips.push(h);
    }
  });

  h = resBlock('mid.res.0', h, g.channels(h));
  h = attnBlock('mid.attn.0', h);
  h = resBlock('mid.res.1', h, g.channels(h));

  for (let level = last; level >= 0; level--) {
    for (let j = 0; j <= c.numResBlocks; j++) {
      const skip = skips.pop() as string;
      h = resBlock(
        `up.${level}.res.${j}`,
        g.concat([h, skip], `up.${level}.res.${j}.concat`),
        ch * c.channelMults[level],
      );
      if (hasAttn(level)) h = attnBlock(`up.${level}.attn.${j}`, h);
    }
    if (level !== 0) h = g.conv(`up.${level}.upsample`, g.upsample(h, `up.${level}.upsample.nearest`), g.channels(h));
  }

  h = g.silu(g.groupNorm('norm_out', h, groups));
  const outputChannels = inChannels * (c.learnedVariance ? 2 : 1);
  h = g.conv('conv_out', h, outputChannels, { zeroInit: true });
  g.output(h);

  return {
    config: c,
    inputs: {
      x: { shape: [s, s, inChannels] },
      t: {},
      ...(c.numClasses > 0 ? { label: { numClasses: c.numClasses } } : {}),
    },
    outputChannels,
    params: g.params,
    nodes: g.nodes,
  };
}
