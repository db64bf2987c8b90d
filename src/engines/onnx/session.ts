/**
 * An exported denoiser (export.ts) run by onnxruntime-node. Execution providers are probed in order, each in its own
 * try/catch, because onnxruntime throws for a provider that is not installed rather than falling back (cuda needs the
 * package's optional install step, dml exists only on Windows, webgpu needs an adapter). The one that created the
 * session is reported, with why each earlier one failed.
 *
 * run() blocks the calling thread for the whole forward pass (DESIGN.md section 2): call it from a worker thread
 * in anything interactive.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Prediction, VpModel } from '../../core/parameterization.ts';
import { META } from './export.ts';
import { decodeModel } from './onnx-proto.ts';

export type OnnxProvider = 'cuda' | 'dml' | 'webgpu' | 'cpu';

/** Fastest first; cpu ships inside the npm package on every platform. */
export const PROVIDER_ORDER: readonly OnnxProvider[] = ['cuda', 'dml', 'webgpu', 'cpu'];

export interface OnnxSessionOptions {
  /** Providers to try, in order. Default PROVIDER_ORDER. */
  providers?: readonly OnnxProvider[];
  /** Threads of the cpu provider's intra-op pool (default: onnxruntime's, one per core). */
  intraOpThreads?: number;
}

export interface ProviderProbe {
  provider: OnnxProvider;
  /** Why the provider could not create the session; absent for the one used. */
  error?: string;
}

/** The metadata_props written by exportOnnx, parsed. */
export interface OnnxModelInfo {
  prediction: Prediction;
  schedule: string;
  timesteps: number;
  numClasses: number;
  learnedVariance: boolean;
  paramCount: number;
  /** Per-sample input shape: [H, W, C] or [D]. */
  inputShape: number[];
  step?: number;
  ema?: boolean;
  /** Every metadata entry as written. */
  raw: Record<string, string>;
}

function parseInfo(raw: Record<string, string>): OnnxModelInfo {
  const need = (key: string): string => {
    const v = raw[key];
    if (v === undefined) throw new Error(`not a diffusion-studio ONNX model: metadata lacks ${key}`);
    return v;
  };
  return {
    prediction: need(META.prediction) as Prediction,
    schedule: need(META.schedule),
    timesteps: Number(need(META.timesteps)),
    numClasses: Number(need(META.numClasses)),
    learnedVariance: need(META.learnedVariance) === 'true',
    paramCount: Number(need(META.paramCount)),
    inputShape: JSON.parse(need(META.inputShape)) as number[],
    ...(raw[META.step] !== undefined ? { step: Number(raw[META.step]) } : {}),
    ...(raw[META.ema] !== undefined ? { ema: raw[META.ema] === 'true' } : {}),
    raw,
  };
}

/**
 * Why cuda cannot work without asking onnxruntime, or null to probe it: onnxruntime-node ships the CUDA provider
 * only after its install step fetched it (skipped offline, see .npmrc), and probing without it prints a native
 * error on the terminal that no log setting silences.
 */
export function cudaUnavailable(): string | null {
  try {
    const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    const dir = join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
    if (!existsSync(dir)) return null;
    const present = readdirSync(dir).some((f) => /onnxruntime_providers_cuda\.(so|dll)/.test(f));
    return present
      ? null
      : "CUDA provider libraries are not installed (run onnxruntime-node's install script with cuda12)";
  } catch {
    return null;
  }
}

const VULKAN_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/lib/x86_64-linux-gnu',
  '/usr/local/lib',
];

/**
 * Why webgpu cannot work, or null to probe it: on Linux onnxruntime's WebGPU provider (Dawn) needs the Vulkan
 * loader, and without it Dawn prints "Couldn't load Vulkan" on stderr before failing, whatever the log level.
 */
export function webgpuUnavailable(env: NodeJS.ProcessEnv = process.env): string | null {
  if (process.platform !== 'linux') return null;
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...VULKAN_DIRS];
  return dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')))
    ? null
    : 'no Vulkan loader (libvulkan.so.1), which WebGPU needs on Linux';
}

/** A session on the first provider in `providers` that works, with why each earlier one did not. */
export async function createProbedSession(
  /** The model, or the model for a provider (built only when that provider is tried). */
  bytes: Uint8Array | ((provider: OnnxProvider) => Uint8Array),
  providers: readonly OnnxProvider[],
  intraOpThreads?: number,
  /** onnxruntime's per-node profiling: a JSON trace written to `<prefix>_<date>.json` when the session ends. */
  profileFilePrefix?: string,
): Promise<{ session: ort.InferenceSession; provider: OnnxProvider; probes: ProviderProbe[] }> {
  if (providers.length === 0) throw new RangeError('no execution providers to try');
  const probes: ProviderProbe[] = [];
  for (const provider of providers) {
    const missing = provider === 'cuda' ? cudaUnavailable() : provider === 'webgpu' ? webgpuUnavailable() : null;
    if (missing) {
      probes.push({ provider, error: missing });
      continue;
    }
    try {
      const model = typeof bytes === 'function' ? bytes(provider) : bytes;
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [provider],
        graphOptimizationLevel: 'all',
        // A missing provider's failure comes back in the probe; keep its native error log off the terminal.
        ...(provider !== 'cpu' ? { logSeverityLevel: 4 as const } : {}),
        ...(intraOpThreads !== undefined ? { intraOpNumThreads: intraOpThreads } : {}),
        ...(profileFilePrefix ? { enableProfiling: true, profileFilePrefix } : {}),
      });
      probes.push({ provider });
      return { session, provider, probes };
    } catch (e) {
      probes.push({ provider, error: (e as Error).message.split('\n')[0] });
    }
  }
  const why = probes.map((p) => `${p.provider}: ${p.error}`).join('; ');
  throw new Error(`onnxruntime could not create a session with any provider (${why})`);
}

/** The metadata of ONNX model bytes (onnxruntime-node does not expose metadata_props). */
export function readOnnxInfo(bytes: Uint8Array): OnnxModelInfo {
  const model = decodeModel(bytes);
  return parseInfo(Object.fromEntries((model.metadataProps ?? []).map((e) => [e.key, e.value])));
}

export class OnnxModelSession {
  private released = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly info: OnnxModelInfo,
    readonly provider: OnnxProvider,
    readonly probes: readonly ProviderProbe[],
  ) {}

  /** A session over ONNX bytes or a .onnx file, on the first provider that works. */
  static async create(model: Uint8Array | string, options: OnnxSessionOptions = {}): Promise<OnnxModelSession> {
    const bytes = typeof model === 'string' ? new Uint8Array(await readFile(model)) : model;
    const info = readOnnxInfo(bytes);
    const providers = options.providers ?? PROVIDER_ORDER;
    if (providers.length === 0) throw new RangeError('no execution providers to try');
    const { session, provider, probes } = await createProbedSession(bytes, providers, options.intraOpThreads);
    return new OnnxModelSession(session, info, provider, probes);
  }

  /** Values per sample of the input. */
  get dim(): number {
    return this.info.inputShape.reduce((a, b) => a * b, 1);
  }

  /** 2 with learned variance ([prediction | v]), else 1. */
  get outputChannelsFactor(): 1 | 2 {
    return this.info.learnedVariance ? 2 : 1;
  }

  /**
   * TfjsModel.predictBatch on onnxruntime: x is B * dim values (HWC per sample), t one timestep for the whole batch,
   * labels one class per sample (negative or numClasses = the null class; omitted = null class; ignored by an
   * unconditional model). Returns B * dim * outputChannelsFactor values; with learned variance sample j's slice is
   * [prediction (dim), v (dim)].
   */
  async predictBatch(x: Float32Array, t: number, labels?: Int32Array): Promise<Float32Array> {
    if (this.released) throw new Error('OnnxModelSession used after release()');
    const dim = this.dim;
    if (x.length % dim !== 0) throw new RangeError(`batch of ${x.length} values is not a multiple of dim ${dim}`);
    const b = x.length / dim;
    if (labels && labels.length !== b) throw new RangeError(`${labels.length} labels for a batch of ${b}`);
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', x, [b, ...this.info.inputShape]),
      t: new ort.Tensor('float32', new Float32Array(b).fill(t), [b]),
    };
    const n = this.info.numClasses;
    if (n > 0) {
      const l = new BigInt64Array(b).fill(BigInt(n));
      if (labels) {
        for (let j = 0; j < b; j++) {
          if (labels[j] > n) throw new RangeError(`label ${labels[j]} is not a class (0..${n - 1}) or the null class`);
          l[j] = BigInt(labels[j]);
        }
      }
      feeds.label = new ort.Tensor('int64', l, [b]);
    }
    const result = await this.session.run(feeds);
    const out = result.out;
    try {
      const data = out.data as Float32Array;
      if (this.outputChannelsFactor === 1) return data.slice();
      const c = this.info.inputShape[this.info.inputShape.length - 1];
      return splitVariance(data, b, dim / c, c);
    } finally {
      out.dispose();
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}

/** NHWC with 2C channels -> per sample [prediction (dim), v (dim)], VpModel's layout. */
export function splitVariance(data: Float32Array, b: number, pixels: number, c: number): Float32Array {
  const dim = pixels * c;
  const r = new Float32Array(2 * b * dim);
  for (let j = 0; j < b; j++)
    for (let p = 0; p < pixels; p++) {
      const src = (j * pixels + p) * 2 * c;
      const dst = j * 2 * dim + p * c;
      for (let k = 0; k < c; k++) {
        r[dst + k] = data[src + k];
        r[dst + dim + k] = data[src + c + k];
      }
    }
  return r;
}

/** A VpModel (src/core/parameterization.ts) over an ONNX session, with labels bound (optional). */
export function onnxVpModel(session: OnnxModelSession, labels?: Int32Array): VpModel {
  return {
    dim: session.dim,
    outputChannelsFactor: session.outputChannelsFactor,
    predict: (xt, t) => session.predictBatch(xt instanceof Float32Array ? xt : Float32Array.from(xt), t, labels),
  };
}
