/**
 * Deterministic parameter initialization from the Philox streams of src/core/rng.ts (purpose `params`).
 *
 * Each parameter draws from its own stream, keyed by (seed, FNV-1a hash of its name), so a parameter's initial
 * values depend only on the seed, its name and its recipe: adding a layer (or a class embedding) elsewhere does not
 * change the others.
 */
import { NormalStream, philox4x32, StreamPurpose } from '../core/rng.ts';
import { numel, type ModelIR, type ParamInit } from './ir.ts';

const TWO_POW_32 = 4294967296;

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Values of one parameter: stream (seed, nameHash(name), params). */
export function initParam(name: string, shape: readonly number[], init: ParamInit, seed: number): Float32Array {
  const out = new Float32Array(numel(shape));
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'normal': {
      new NormalStream(seed, nameHash(name), StreamPurpose.params).fill(out);
      for (let i = 0; i < out.length; i++) out[i] *= init.std;
      break;
    }
    case 'uniform': {
      // Four uniforms per Philox block (NormalStream.uniform spends a block per value), same counter layout.
      new NormalStream(seed, 0, StreamPurpose.params); // validates the seed
      const k0 = (seed % TWO_POW_32) >>> 0;
      const k1 = Math.floor(seed / TWO_POW_32) >>> 0;
      const sample = nameHash(name);
      const w = new Uint32Array(4);
      for (let i = 0, block = 0; i < out.length; i += 4, block++) {
        philox4x32(block, 0, sample, StreamPurpose.params, k0, k1, w);
        for (let k = 0; k < 4 && i + k < out.length; k++) {
          out[i + k] = init.bound * ((2 * (w[k] + 0.5)) / TWO_POW_32 - 1);
        }
      }
      break;
    }
    default:
      throw new Error(`unknown init ${(init as { kind: string }).kind}`);
  }
  return out;
}

/** Initial values of every parameter of the IR, in its order, canonical (PyTorch) layout. */
export function initParams(ir: ModelIR, seed: number): Map<string, Float32Array> {
  return new Map(ir.params.map((p) => [p.name, initParam(p.name, p.shape, p.init, seed)]));
}
