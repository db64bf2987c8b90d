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
  { id: 'mnist', label: 'MNIST (IDX files in a folder)' },
  { id: 'cifar10', label: 'CIFAR-10 (binary batches in a folder)' },
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
  | 'conditional'
  | NumberOption
  | 'optimizer'
  | 'lrDecay'
  | 'backend'
  | 'engine'
  | 'channels'
  | 'hflip';

/** Number fields beyond the basic ones; each is the TrainConfig (or data.*) field of the same name. */
export const NUMBER_OPTIONS = [
  { id: 'timesteps', label: 'Diffusion timesteps', min: 1, step: '1' },
  { id: 'labelDropout', label: 'Label dropout (null class)', min: 0, step: 'any' },
  { id: 'weightDecay', label: 'Weight decay', min: 0, step: 'any' },
  { id: 'beta1', label: 'Adam β₁', min: 0, step: 'any' },
  { id: 'beta2', label: 'Adam β₂', min: 0, step: 'any' },
  { id: 'warmupSteps', label: 'Warmup steps', min: 0, step: '1' },
  { id: 'gradClip', label: 'Gradient clip (0 = off)', min: 0, step: 'any' },
  { id: 'emaDecay', label: 'EMA decay', min: 0, step: 'any' },
  { id: 'keepLast', label: 'Keep last checkpoints', min: 1, step: '1' },
  { id: 'previewCount', label: 'Preview samples', min: 1, step: '1' },
  { id: 'previewSteps', label: 'Preview sampler steps', min: 1, step: '1' },
  { id: 'toySize', label: 'Toy points', min: 16, step: '1' },
  { id: 'imageSize', label: 'Image size (px)', min: 4, step: '1' },
] as const;

export type NumberOption = (typeof NUMBER_OPTIONS)[number]['id'];

/** Which form field a validator message is about, from the config field it starts with. */
const FIELD_OF: [RegExp, FieldId][] = [
  [/^data\.imageSize\b/, 'imageSize'],
  [/^data\.channels\b/, 'channels'],
  [/^data\.toySize\b|^toy:\S+ holds/, 'toySize'],
  [/^hflip\b/, 'hflip'],
  ...NUMBER_OPTIONS.map(({ id }): [RegExp, FieldId] => [new RegExp(`^${id}\\b`), id]),
  [/^optimizer\b/, 'optimizer'],
  [/^lrDecay\b/, 'lrDecay'],
  [/^backend\b/, 'backend'],
  [/^engine\b/, 'engine'],
  [/^data\.dir|^Fashion-MNIST/, 'folder'],
  [/^data\.|^toy:/, 'dataset'],
  [/^preset\b/, 'preset'],
  [/^objective\b/, 'objective'],
  [/^schedule\b/, 'schedule'],
  [/^steps\b/, 'steps'],
  [/^batchSize\b/, 'batch'],
  [/^lr\b/, 'lr'],
  [/^checkpointEvery\b/, 'checkpointEvery'],
  [/^previewEvery\b/, 'previewEvery'],
  [/^seed\b/, 'seed'],
  [/^conditional\b/, 'conditional'],
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
  // Every other TrainConfig option, at the engine's defaults (TRAIN_DEFAULTS in src/train/config.ts).
  timesteps = $state<number | null>(1000);
  labelDropout = $state<number | null>(0.1);
  optimizer = $state<'adam' | 'adamw'>('adamw');
  weightDecay = $state<number | null>(0);
  beta1 = $state<number | null>(0.9);
  beta2 = $state<number | null>(0.999);
  warmupSteps = $state<number | null>(0);
  lrDecay = $state<'constant' | 'cosine'>('constant');
  gradClip = $state<number | null>(1);
  emaDecay = $state<number | null>(0.999);
  emaWarmup = $state(true);
  hflip = $state(false);
  keepLast = $state<number | null>(3);
  /** null: 256 points for toy sets (a scatter), 16 images otherwise (a 4×4 grid). */
  previewCount = $state<number | null>(null);
  previewSteps = $state<number | null>(20);
  backend = $state<'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu'>('auto');
  engine = $state<'tfjs' | 'onnx'>('onnx');
  toySize = $state<number | null>(10_000);
  imageSize = $state<number | null>(null);
  channels = $state<'' | '1' | '3'>('');
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

  /** Data read from a folder the user names (a path field is shown). */
  get needsDir(): boolean {
    return this.dataset === 'folder' || this.dataset === 'mnist' || this.dataset === 'cifar10';
  }

  /** The message for one field, when the last attempt failed there. */
  errorFor(field: FieldId): string | null {
    return this.errorField === field ? this.error : null;
  }

  request(): TrainConfigInput {
    const data: TrainConfigInput['data'] = this.dataset.startsWith('toy:')
      ? { kind: 'toy', toy: this.dataset.slice(4) as never, toySize: this.toySize as number }
      : this.needsDir
        ? { kind: this.dataset as 'folder' | 'mnist' | 'cifar10', dir: this.folder.trim() }
        : { kind: 'fashion-mnist' };
    if (this.dataset === 'folder') {
      if (this.imageSize !== null) data.imageSize = this.imageSize;
      if (this.channels) data.channels = Number(this.channels) as 1 | 3;
    }
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
      previewCount: this.previewCount ?? (this.isToy ? 256 : 16),
      timesteps: this.timesteps as number,
      labelDropout: this.labelDropout as number,
      optimizer: this.optimizer,
      weightDecay: this.weightDecay as number,
      beta1: this.beta1 as number,
      beta2: this.beta2 as number,
      warmupSteps: this.warmupSteps as number,
      lrDecay: this.lrDecay,
      gradClip: this.gradClip as number,
      emaDecay: this.emaDecay as number,
      emaWarmup: this.emaWarmup,
      hflip: this.hflip,
      keepLast: this.keepLast as number,
      previewSteps: this.previewSteps as number,
      backend: this.backend,
      engine: this.engine,
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
