/**
 * A run's history as its detail view draws it: loss per timestep bucket at every progress report (the heatmap) and
 * the previews kept at checkpoints (the film strip: the same fixed noise each time, so the change is the model's).
 * Loaded from the store, then extended by live events.
 */
import type { RunMetrics, StudioApi, TrainPreviewEvent } from '../../../api/contract.ts';
import { float32FromBase64 } from '../lib/base64-floats.ts';
import type { BucketHistory } from '../lib/heatmap.ts';

export const LOSS_BUCKETS = 10;
export const BUCKET_NAMES = Array.from({ length: LOSS_BUCKETS }, (_, k) => `loss_t${k}`);
/** Thumbnails in the strip; older ones are thinned out evenly by the service. */
const MAX_FRAMES = 24;

export interface FilmFrame {
  step: number;
  samples: Float32Array;
  count: number;
  /** One sample's shape: [H, W, C] images or [2] points. */
  shape: number[];
}

export class RunHistory {
  buckets = $state.raw<BucketHistory>({ steps: [], buckets: BUCKET_NAMES.map(() => []) });
  frames = $state.raw<FilmFrame[]>([]);
  framesError = $state<string | null>(null);

  /** Aligns the stored loss_t* series on their report steps (a bucket a report missed reads NaN). */
  setBuckets(metrics: RunMetrics): void {
    const all = BUCKET_NAMES.flatMap((name) => (metrics[name] ?? []).map((p) => p.step)).sort((a, b) => a - b);
    const steps = all.filter((s, i) => i === 0 || s !== all[i - 1]);
    const index: Record<number, number> = Object.fromEntries(steps.map((s, i) => [s, i]));
    const buckets = BUCKET_NAMES.map((name) => {
      const row = new Array<number>(steps.length).fill(NaN);
      for (const p of metrics[name] ?? []) row[index[p.step]] = p.value;
      return row;
    });
    this.buckets = { steps, buckets };
  }

  /** A live progress report. Reports of a resumed run may repeat steps: those replace the tail. */
  addReport(step: number, bucketLoss: (number | null)[]): void {
    const { steps, buckets } = this.buckets;
    let keep = steps.length;
    while (keep > 0 && steps[keep - 1] >= step) keep--;
    this.buckets = {
      steps: [...steps.slice(0, keep), step],
      buckets: buckets.map((row, k) => [...row.slice(0, keep), bucketLoss[k] ?? NaN]),
    };
  }

  async loadFrames(api: StudioApi, runId: string): Promise<void> {
    try {
      const previews = await api.listPreviews({ runId, max: MAX_FRAMES });
      this.frames = previews.map((p) => ({
        step: p.step,
        count: p.count,
        shape: p.shape,
        samples: float32FromBase64(p.samplesBase64),
      }));
      this.framesError = null;
    } catch (e) {
      this.framesError = (e as Error).message;
    }
  }

  /** A live preview drawn at a checkpoint (the service kept it too). */
  addFrame(event: TrainPreviewEvent): void {
    const frame = { step: event.step, samples: event.samples, count: event.count, shape: event.shape };
    const others = this.frames.filter((f) => f.step !== event.step && f.step < event.step);
    this.frames = [...others, frame].slice(-MAX_FRAMES);
  }
}
