/** Learning rate at a step: linear warmup from 0, then constant or cosine decay to `minLr` at `totalSteps`. */
export interface LrSchedule {
  lr: number;
  warmupSteps: number;
  decay: 'constant' | 'cosine';
  totalSteps: number;
  minLr: number;
}

/** The rate for update number `step` (0-based: the first update uses step 0). */
export function learningRate(s: LrSchedule, step: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.decay === 'constant') return s.lr;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos(Math.PI * progress));
}
