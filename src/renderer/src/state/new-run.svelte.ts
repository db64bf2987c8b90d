/**
 * The "New run" form: its fields, the request they make, and the service's validation message, attached to the
 * field it names (the config validator's messages start with the field, e.g. "steps must be an integer ...").
 */
import type { Run, StudioApi, TrainConfigInput } from '../../../api/contract.ts';

export const DATASETS = [
  { id: 'toy:ring', label: 'Toy: ring of 8 Gaussians (2-D)' },
  { id: 'toy:moons', label: 'Toy: two moons (2-D)' },
  { id: 'toy:swiss-roll', label: 'Toy: swiss roll (2-D)' },
  { id: 'toy:checkerboard', label: 'Toy: checkerboard (2-D)' },
  { id: 'toy:gaussian-grid', label: 'Toy: 5×5 Gaussian grid (2-D)' },
  { id: 'fashion-mnist', label: 'Fashion-MNIST (28×28 grey)' },
  { id: 'folder', label: 'Image folder…' },
] as const;

export type DatasetId = (typeof DATASETS)[number]['id'];
export type FieldId =
  | 'dataset'
  | 'folder'
  | 'preset'
  | 'objective'
  | 'schedule'
  | 'steps'
  | 'batch'
  | 'lr'
  | 'checkpointEvery'
  | 'previewEvery'
  | 'seed'
  | 'conditional';

/** Which form field a validator message is about, from the config field it starts with. */
const FIELD_OF: [RegExp, FieldId][] = [
  [/^data\.dir|^Fashion-MNIST|^data\.imageSize|^data\.channels/, 'folder'],
  [/^data\.|^toy:/, 'dataset'],
  [/^preset/, 'preset'],
  [/^objective/, 'objective'],
  [/^schedule/, 'schedule'],
  [/^steps/, 'steps'],
  [/^batchSize/, 'batch'],
  [/^lr/, 'lr'],
  [/^checkpointEvery/, 'checkpointEvery'],
  [/^previewEvery/, 'previewEvery'],
  [/^seed/, 'seed'],
  [/^conditional/, 'conditional'],
];

export class NewRunState {
  dataset = $state<DatasetId>('toy:ring');
  folder = $state('');
  preset = $state<'tiny' | 'small' | 'base'>('tiny');
  objective = $state<'eps' | 'x0' | 'v'>('eps');
  schedule = $state<'linear' | 'cosine'>('linear');
  steps = $state<number | null>(2000);
  batch = $state<number | null>(128);
  lr = $state<number | null>(0.001);
  conditional = $state(false);
  learnedVariance = $state(false);
  checkpointEvery = $state<number | null>(500);
  previewEvery = $state<number | null>(250);
  seed = $state<number | null>(0);
  submitting = $state(false);
  error = $state<string | null>(null);
  errorField = $state<FieldId | null>(null);

  readonly #api: StudioApi;

  constructor(api: StudioApi) {
    this.#api = api;
  }

  get isToy(): boolean {
    return this.dataset.startsWith('toy:');
  }

  /** The message for one field, when the last attempt failed there. */
  errorFor(field: FieldId): string | null {
    return this.errorField === field ? this.error : null;
  }

  request(): TrainConfigInput {
    const data: TrainConfigInput['data'] = this.dataset.startsWith('toy:')
      ? { kind: 'toy', toy: this.dataset.slice(4) as never }
      : this.dataset === 'folder'
        ? { kind: 'folder', dir: this.folder.trim() }
        : { kind: 'fashion-mnist' };
    // Empty number inputs read as null: sent as they are, so the validator names the field.
    return {
      data,
      preset: this.preset,
      objective: this.objective,
      schedule: this.schedule,
      steps: this.steps as number,
      batchSize: this.batch as number,
      lr: this.lr as number,
      conditional: this.conditional,
      learnedVariance: this.learnedVariance,
      checkpointEvery: this.checkpointEvery as number,
      previewEvery: this.previewEvery as number,
      seed: this.seed as number,
      // A 2-D preview is a scatter: many points are cheap and show the distribution; images show a 4×4 grid.
      previewCount: this.isToy ? 256 : 16,
    };
  }

  /** Creates the run; resolves with it, or null when the service refused the config (the message is kept). */
  async submit(): Promise<Run | null> {
    this.submitting = true;
    try {
      const run = await this.#api.createTrainingRun(this.request());
      this.error = null;
      this.errorField = null;
      return run;
    } catch (e) {
      const message = (e as Error).message;
      this.error = message;
      this.errorField = FIELD_OF.find(([re]) => re.test(message))?.[1] ?? null;
      return null;
    } finally {
      this.submitting = false;
    }
  }
}
