/**
 * How the tfjs engine differentiates its heavy ops.
 * - 'autodiff': tfjs's built-in gradients (cpu, webgpu, tensorflow): the plain, independent reference.
 * - 'custom': hand-written gradients from fast forward kernels, for wasm, which lacks Conv2DBackpropFilter and runs
 *   Conv2DBackpropInput and transposed BatchMatMul slowly: convs (conv.ts), matmuls (matmul.ts) and GroupNorm
 *   (group-norm.ts). Both modes give the same gradients to float32 rounding (tests/unit/tfjs-gradcheck.test.ts).
 */
import * as tf from '@tensorflow/tfjs';

export type GradMode = 'autodiff' | 'custom';

/** 'custom' on wasm and wherever Conv2DBackpropFilter is missing; else 'autodiff'. */
export function defaultGradMode(backend: string = tf.getBackend()): GradMode {
  if (backend === 'wasm') return 'custom';
  try {
    return tf.getKernel('Conv2DBackpropFilter', backend) ? 'autodiff' : 'custom';
  } catch {
    return 'custom';
  }
}
