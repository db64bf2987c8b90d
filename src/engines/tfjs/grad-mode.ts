/**
 * How the tfjs engine differentiates its heavy ops.
 * - 'autodiff': tfjs's built-in gradients: for backends with fast native gradient kernels (tensorflow, webgpu,
 *   webgl), and the plain, independent reference in tests.
 * - 'custom': hand-written gradients from fast forward kernels: convs (conv.ts), matmuls (matmul.ts) and GroupNorm
 *   (group-norm.ts). Needed on wasm, which lacks Conv2DBackpropFilter and runs Conv2DBackpropInput and transposed
 *   BatchMatMul slowly; also the faster choice on cpu, whose pure-JS Conv2DBackpropFilter took 926 of the 1000 ms
 *   of a tiny-U-Net step at 8x8 (custom: ~250 ms).
 * Both modes give the same gradients to float32 rounding (tests/unit/tfjs-gradcheck.test.ts).
 */
import * as tf from '@tensorflow/tfjs';

export type GradMode = 'autodiff' | 'custom';

const NATIVE_GRADIENTS = new Set(['tensorflow', 'webgpu', 'webgl']);

/** 'autodiff' on backends with native gradient kernels (and Conv2DBackpropFilter registered); else 'custom'. */
export function defaultGradMode(backend: string = tf.getBackend()): GradMode {
  if (!NATIVE_GRADIENTS.has(backend)) return 'custom';
  try {
    return tf.getKernel('Conv2DBackpropFilter', backend) ? 'autodiff' : 'custom';
  } catch {
    return 'custom';
  }
}
