/**
 * Model configurations as plain, serializable data. A config fully determines the IR (ir.ts), hence the parameter
 * names and shapes that checkpoints store: never change what an existing field means, only add new ones.
 */

/**
 * A DDPM / ADM style U-Net over HWC images: conv_in, levels of residual blocks (with optional self-attention) joined
 * by stride-2 conv downsampling, a middle block (res, attention, res), the mirrored up path with skip connections
 * (nearest 2x upsampling + conv), then GroupNorm, SiLU and conv_out.
 */
export interface UNetConfig {
  kind: 'unet';
  /** Height = width of the input, in pixels. */
  imageSize: number;
  inChannels: number;
  /** Channels of level 0; also the width of the sinusoidal timestep embedding (the time MLP has 4x this). */
  baseChannels: number;
  /** Channel multiplier per level; level i runs at imageSize / 2^i with baseChannels * channelMults[i] channels. */
  channelMults: number[];
  numResBlocks: number;
  /** Feature-map sizes (e.g. 16) whose levels get self-attention after each residual block. */
  attentionResolutions: number[];
  /** Dropout rate inside every residual block (before its second conv). */
  dropout: number;
  /** GroupNorm groups. */
  groups: number;
  /** 0 = unconditional; else an embedding with numClasses + 1 rows, the last = the null class for guidance. */
  numClasses: number;
  /** Output 2C channels: the prediction, then the learned-range variance v (improved DDPM). */
  learnedVariance: boolean;
  /** Attention heads (each of channels / numHeads). */
  numHeads: number;
}

/** A small residual MLP denoiser for vector data (e.g. 2-D toy sets): fast enough for training tests. */
export interface MlpConfig {
  kind: 'mlp';
  /** Values per sample. */
  dim: number;
  /** Width of the residual stream and of the timestep embedding (even). */
  hidden: number;
  /** Residual blocks. */
  depth: number;
  numClasses: number;
  learnedVariance: boolean;
  dropout: number;
}

export type ModelConfig = UNetConfig | MlpConfig;

export type PresetName = 'tiny' | 'small' | 'base';

export const PRESET_NAMES: readonly PresetName[] = ['tiny', 'small', 'base'];

/** What a preset needs to know about the data. size 0 (or absent) = vector data of `channels` values per sample. */
export interface DataSpec {
  channels: number;
  size?: number;
  numClasses?: number;
  learnedVariance?: boolean;
}

export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

function isPosInt(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) > 0;
}

/** Feature-map size of every U-Net level. */
export function levelSizes(c: UNetConfig): number[] {
  return c.channelMults.map((_, i) => c.imageSize / 2 ** i);
}

/** Throws ModelConfigError listing every problem; returns the config for chaining. */
export function validateModelConfig<C extends ModelConfig>(c: C): C {
  const errs: string[] = [];
  const need = (ok: boolean, msg: string): void => {
    if (!ok) errs.push(msg);
  };
  const common = (cfg: { numClasses: number; dropout: number; learnedVariance: boolean }): void => {
    need(Number.isInteger(cfg.numClasses) && cfg.numClasses >= 0, `numClasses must be an integer >= 0`);
    need(
      typeof cfg.dropout === 'number' && cfg.dropout >= 0 && cfg.dropout < 1,
      `dropout must be in [0, 1), got ${cfg.dropout}`,
    );
    need(typeof cfg.learnedVariance === 'boolean', 'learnedVariance must be a boolean');
  };
  if (c.kind === 'unet') {
    need(isPosInt(c.imageSize), `imageSize must be a positive integer, got ${c.imageSize}`);
    need(isPosInt(c.inChannels), `inChannels must be a positive integer, got ${c.inChannels}`);
    need(isPosInt(c.baseChannels), `baseChannels must be a positive integer, got ${c.baseChannels}`);
    need(
      isPosInt(c.baseChannels) && c.baseChannels % 2 === 0,
      `baseChannels must be even (it is the timestep embedding width), got ${c.baseChannels}`,
    );
    need(isPosInt(c.numResBlocks), `numResBlocks must be a positive integer, got ${c.numResBlocks}`);
    need(isPosInt(c.groups), `groups must be a positive integer, got ${c.groups}`);
    need(isPosInt(c.numHeads), `numHeads must be a positive integer, got ${c.numHeads}`);
    const mults = Array.isArray(c.channelMults) ? c.channelMults : [];
    need(mults.length > 0 && mults.every(isPosInt), `channelMults must be a non-empty list of positive integers`);
    common(c);
    if (errs.length === 0) {
      const levels = mults.length;
      const factor = 2 ** (levels - 1);
      need(
        c.imageSize % factor === 0,
        `imageSize ${c.imageSize} must be divisible by 2^(levels-1) = ${factor} for ${levels} levels`,
      );
      const sizes = levelSizes(c);
      for (const m of new Set(mults)) {
        const ch = c.baseChannels * m;
        need(
          ch % c.groups === 0,
          `channels ${ch} (baseChannels ${c.baseChannels} x ${m}) not divisible by groups ${c.groups}`,
        );
      }
      for (const r of c.attentionResolutions ?? []) {
        need(sizes.includes(r), `attention resolution ${r} is not one of the feature-map sizes ${sizes.join(', ')}`);
      }
      // Attention runs wherever listed and always in the middle block (lowest resolution).
      const attnLevels = mults.map((m, i) => ({ m, i })).filter(({ i }) => c.attentionResolutions.includes(sizes[i]));
      const attnChannels = new Set([...attnLevels.map(({ m }) => m), mults[levels - 1]].map((m) => c.baseChannels * m));
      for (const ch of attnChannels) {
        need(ch % c.numHeads === 0, `attention channels ${ch} not divisible by numHeads ${c.numHeads}`);
      }
    }
  } else if (c.kind === 'mlp') {
    need(isPosInt(c.dim), `dim must be a positive integer, got ${c.dim}`);
    need(isPosInt(c.hidden) && c.hidden % 2 === 0, `hidden must be a positive even integer, got ${c.hidden}`);
    need(isPosInt(c.depth), `depth must be a positive integer, got ${c.depth}`);
    common(c);
  } else {
    errs.push(`unknown model kind "${(c as { kind?: unknown }).kind}"; expected "unet" or "mlp"`);
  }
  if (errs.length > 0) throw new ModelConfigError(`invalid model config: ${errs.join('; ')}`);
  return c;
}

/**
 * A named preset for the data. Images: tiny (tests, ~0.28M params), small (~1.6M at 28x28), base (the DDPM CIFAR-10
 * U-Net, 35.7M params at 32x32 RGB). Vector data maps to MLPs of growing width and depth.
 */
export function modelPreset(name: PresetName, data: DataSpec): ModelConfig {
  const numClasses = data.numClasses ?? 0;
  const learnedVariance = data.learnedVariance ?? false;
  if (!PRESET_NAMES.includes(name)) {
    throw new ModelConfigError(`unknown preset "${name}"; expected one of ${PRESET_NAMES.join(', ')}`);
  }
  const size = data.size ?? 0;
  if (size === 0) {
    const shape = { tiny: { hidden: 64, depth: 2 }, small: { hidden: 256, depth: 3 }, base: { hidden: 512, depth: 4 } };
    return validateModelConfig({
      kind: 'mlp',
      dim: data.channels,
      ...shape[name],
      numClasses,
      learnedVariance,
      dropout: 0,
    });
  }
  const common = { imageSize: size, inChannels: data.channels, numClasses, learnedVariance };
  // Level count: as many as the preset wants while the size stays divisible (e.g. 28 allows 3 levels, not 4).
  const fit = (mults: number[]): number[] => {
    let m = mults;
    while (m.length > 1 && size % 2 ** (m.length - 1) !== 0) m = m.slice(0, -1);
    return m;
  };
  const lowest = (mults: number[]): number => size / 2 ** (mults.length - 1);
  let cfg: UNetConfig;
  if (name === 'tiny') {
    // Three levels: attention at the lowest resolution (7x7 at 28) is cheap; at 14x14 it took half the step on wasm.
    const channelMults = fit([1, 2, 2]);
    cfg = {
      kind: 'unet',
      ...common,
      baseChannels: 16,
      channelMults,
      numResBlocks: 1,
      attentionResolutions: [lowest(channelMults)],
      dropout: 0,
      groups: 4,
      numHeads: 2,
    };
  } else if (name === 'small') {
    const channelMults = fit([1, 2, 2]);
    cfg = {
      kind: 'unet',
      ...common,
      baseChannels: 32,
      channelMults,
      numResBlocks: 2,
      attentionResolutions: [lowest(channelMults)],
      dropout: 0.1,
      groups: 8,
      numHeads: 1,
    };
  } else {
    const channelMults = fit([1, 2, 2, 2]);
    cfg = {
      kind: 'unet',
      ...common,
      baseChannels: 128,
      channelMults,
      numResBlocks: 2,
      // DDPM: attention at 16x16 on 32x32 images, i.e. level 1.
      attentionResolutions: channelMults.length > 1 ? [size / 2] : [],
      dropout: 0.1,
      groups: 32,
      numHeads: 1,
    };
  }
  return validateModelConfig(cfg);
}
