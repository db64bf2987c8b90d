/**
 * Milliseconds per tfjs training step (forward + backward with tf.variableGrads, no optimizer) of the model presets
 * on 28x28x1 images. Usage:
 *   npx tsx bench/tfjs-step.ts [--backends wasm,cpu] [--presets tiny,small] [--batch 32] [--steps 3] [--warmup 1]
 *                             [--forward]   (also time an inference forward at the same batch)
 * The loss is mean squared error against a fixed target; dropout runs with a fixed seed as in training.
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { modelPreset, type PresetName } from '../src/model/config.ts';
import { buildIR, paramCount } from '../src/model/ir.ts';
import { initParams } from '../src/model/init.ts';
import { useBackend, type BackendName } from '../src/engines/tfjs/backend.ts';
import { TfjsModel } from '../src/engines/tfjs/model.ts';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,cpu' },
    presets: { type: 'string', default: 'tiny,small' },
    batch: { type: 'string', default: '32' },
    size: { type: 'string', default: '28' },
    steps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    forward: { type: 'boolean', default: false },
  },
});
const batch = Number(values.batch);
const size = Number(values.size);
const steps = Number(values.steps);
const warmup = Number(values.warmup);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

for (const backend of values.backends.split(',') as BackendName[]) {
  const detail = await useBackend(backend);
  for (const preset of values.presets.split(',') as PresetName[]) {
    const config = modelPreset(preset, { channels: 1, size });
    const ir = buildIR(config);
    const model = TfjsModel.create(ir, initParams(ir, 0));
    const x = tf.randomNormal([batch, size, size, 1], 0, 1, 'float32', 1);
    const target = tf.randomNormal([batch, size, size, 1], 0, 1, 'float32', 2);
    const t = tf.randomUniform([batch], 0, 1000, 'float32', 3) as tf.Tensor1D;
    const vars = model.trainableVariables();
    const step = (i: number): number => {
      const t0 = performance.now();
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.mean(tf.squaredDifference(model.apply(x, t, null, { training: true, dropoutSeed: i }), target)),
          vars,
        );
        value.dataSync();
        for (const g of Object.values(grads)) g.dataSync();
      });
      return performance.now() - t0;
    };
    const times: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const ms = step(i);
      if (i >= warmup) times.push(ms);
    }
    let fwd = '';
    if (values.forward) {
      const ft: number[] = [];
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        tf.tidy(() => model.apply(x, t, null, { training: false }).dataSync());
        ft.push(performance.now() - t0);
      }
      fwd = `, forward ${ft[1].toFixed(0)} ms`;
    }
    console.log(
      `${detail} ${preset} (${(paramCount(ir) / 1e6).toFixed(3)}M params) ${size}x${size}x1 batch ${batch}: ` +
        `train step ${median(times).toFixed(0)} ms (median of ${steps}: ${times.map((v) => v.toFixed(0)).join(', ')})${fwd}`,
    );
    tf.dispose([x, target, t]);
    model.dispose();
  }
}
