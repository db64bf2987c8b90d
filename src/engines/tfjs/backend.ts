/**
 * tfjs backend selection at run time: the best available first, each probed inside try/catch.
 *
 * - 'tensorflow': libtensorflow via the optional @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (user machines
 *   only; must be the same tfjs version as @tensorflow/tfjs so both share one engine).
 * - 'webgpu': @tensorflow/tfjs-backend-webgpu; in Node through the optional `webgpu` package (Dawn), installed as
 *   globalThis.navigator = { gpu: create([]) } plus its globals (GPUBufferUsage, ...). Removed again if no adapter.
 * - 'wasm': @tensorflow/tfjs-backend-wasm, single-threaded in Node (SIMD when available). Its .wasm files are found
 *   next to the package's own JS; in Node we point setWasmPaths at that folder explicitly so bundling the JS
 *   elsewhere (electron-vite, worker threads) does not break it.
 * - 'cpu': pure JS, always present, very slow for training.
 *
 * tf.setBackend resolves to false (it does not throw) when a backend's factory fails: that is checked. What each
 * backend lacks is handled where the op is built: hand-written gradients from forward kernels on wasm and cpu
 * (grad-mode.ts: convs, matmuls, GroupNorm), and nearest upsampling by reshape and broadcast on every backend because
 * the cpu backend's ResizeNearestNeighborGrad is wrong for batch > 1 (ops.ts).
 */
import * as tf from '@tensorflow/tfjs';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

/** Best first. */
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendSelection {
  name: BackendName;
  /** What was loaded, e.g. '@tensorflow/tfjs-node', 'wasm (simd, 1 thread)'. */
  detail: string;
  /** Backends tried before the chosen one, with why each failed. */
  tried: { name: BackendName; error: string }[];
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** import() of an optional package whose name the bundler must not resolve at build time. */
async function importOptional(specifier: string): Promise<Record<string, unknown>> {
  return (await import(/* @vite-ignore */ specifier)) as Record<string, unknown>;
}

function message(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0];
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

let wasmPathsSet = false;

/** Folder of the installed @tensorflow/tfjs-backend-wasm .wasm binaries (Node), or null if not found. */
async function wasmDistFolder(): Promise<string | null> {
  const { createRequire } = await import('node:module');
  const path = await import('node:path');
  const fs = await import('node:fs');
  const require = createRequire(import.meta.url);
  const main = require.resolve('@tensorflow/tfjs-backend-wasm');
  const dir = path.dirname(main);
  return fs.existsSync(path.join(dir, 'tfjs-backend-wasm.wasm')) ? dir + path.sep : null;
}

async function registerWasm(): Promise<string> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (isNode && !wasmPathsSet) {
    const dir = await wasmDistFolder().catch(() => null);
    try {
      if (dir) wasm.setWasmPaths(dir);
    } catch {
      // Already initialized (someone selected wasm before us): its files were found then.
    }
    wasmPathsSet = true;
  }
  return '';
}

async function registerTensorflow(): Promise<string> {
  if (tf.findBackendFactory('tensorflow')) return 'already registered';
  const errors: string[] = [];
  for (const spec of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await importOptional(spec); // registers the 'tensorflow' backend as a side effect
      if (tf.findBackendFactory('tensorflow')) return spec;
      errors.push(`${spec}: loaded but registered no 'tensorflow' backend (a second copy of tfjs-core?)`);
    } catch (e) {
      errors.push(`${spec}: ${message(e)}`);
    }
  }
  throw new Error(errors.join('; '));
}

let installedNavigator = false;

async function registerWebgpu(): Promise<string> {
  const g = globalThis as unknown as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } };
  let detail = 'navigator.gpu';
  if (!g.navigator?.gpu) {
    if (!isNode) throw new Error('no navigator.gpu');
    const dawn = await importOptional('webgpu');
    const create = dawn.create as ((flags: string[]) => { requestAdapter(): Promise<unknown> }) | undefined;
    if (typeof create !== 'function') throw new Error("the 'webgpu' package has no create()");
    Object.assign(globalThis, dawn.globals ?? {});
    const nav = { ...(g.navigator ?? {}), gpu: create([]) };
    Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
    installedNavigator = true;
    detail = "navigator.gpu from the 'webgpu' package (Dawn)";
  }
  try {
    const adapter = await g.navigator!.gpu!.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter');
    await importOptional('@tensorflow/tfjs-backend-webgpu');
    if (!tf.findBackendFactory('webgpu')) throw new Error('@tensorflow/tfjs-backend-webgpu registered no backend');
  } catch (e) {
    // A live Dawn instance keeps Node from exiting: drop it when it is of no use.
    if (installedNavigator) {
      delete (globalThis as { navigator?: unknown }).navigator;
      installedNavigator = false;
    }
    throw e;
  }
  return detail;
}

const REGISTER: Record<BackendName, () => Promise<string>> = {
  tensorflow: registerTensorflow,
  webgpu: registerWebgpu,
  wasm: registerWasm,
  cpu: async () => '',
};

function describe(name: BackendName, registered: string): string {
  if (name === 'wasm') {
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'simd' : 'no simd';
    const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 'multi-threaded' : '1 thread';
    return `wasm (${simd}, ${threads})`;
  }
  if (name === 'cpu') return 'cpu (pure JS)';
  return registered ? `${name} (${registered})` : name;
}

/**
 * Switches tfjs to one backend and waits until it is ready. Throws (with the reason) when it cannot be used.
 * Tensors made on another backend stay valid (tfjs moves their data on use), but plain arrays are safer.
 */
export async function useBackend(name: BackendName): Promise<string> {
  if (!BACKEND_ORDER.includes(name)) throw new Error(`unknown tfjs backend "${name}"`);
  const registered = await REGISTER[name]();
  if (!tf.findBackendFactory(name)) throw new Error(`backend '${name}' is not registered`);
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') failed (its initialization returned false)`);
  await tf.ready();
  if (name === 'cpu') {
    // The cpu backend prints a banner recommending tfjs-node on its first tensor in Node; we chose it knowingly.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
  if (tf.getBackend() !== name) throw new Error(`tfjs is on '${tf.getBackend()}' after selecting '${name}'`);
  return describe(name, registered);
}

/**
 * Picks the first backend of `preference` (default: BACKEND_ORDER, best first) that loads and initializes. Throws
 * only when none does (cpu always does, when it is in the list).
 */
export async function selectBackend(preference: readonly BackendName[] = BACKEND_ORDER): Promise<BackendSelection> {
  const tried: { name: BackendName; error: string }[] = [];
  for (const name of preference) {
    try {
      const detail = await useBackend(name);
      return { name, detail, tried };
    } catch (e) {
      tried.push({ name, error: message(e) });
    }
  }
  throw new Error(`no tfjs backend could be used: ${tried.map((t) => `${t.name}: ${t.error}`).join('; ')}`);
}
