/**
 * `diffusion-studio <command>`: the command-line face of the studio. Every failure the user can cause prints one
 * line, `diffusion-studio: <problem>`, and exits 2; anything else exits 1 with the message (stack with DEBUG=1).
 */
import { parseArgs } from 'node:util';
import { COMPARE_HELP, compareCommand } from './compare.ts';
import { UsageError } from './errors.ts';
import { EXPORT_ONNX_HELP, exportOnnxCommand } from './export-onnx.ts';
import { FORK_HELP, forkCommand } from './fork.ts';
import { IMPORT_ONNX_HELP, importOnnxCommand } from './import-onnx.ts';
import { RESUME_HELP, resumeCommand } from './resume.ts';
import { RUNS_HELP, runsCommand } from './runs.ts';
import { SAMPLE_HELP, sampleCommand } from './sample.ts';
import { SAMPLE_RUN_HELP, sampleRunCommand } from './sample-run.ts';
import { TRAIN_HELP, trainCommand } from './train.ts';

const HELP = `Usage: diffusion-studio <command> [options]

Commands:
  train      train a diffusion model (fashion-mnist, mnist, cifar10, toy sets, image folders)
  resume     continue a stopped or crashed training run from its latest checkpoint
  fork       start a new run from any checkpoint of another (optionally with a new learning rate)
  runs       list training runs, or show one with its checkpoints
  sample     sample a trained run (--run) or an analytic Gaussian mixture (--model) with any sampler
  compare    samplers x step counts from the same noise: table, true error (mixtures), labeled grid PNG
  export-onnx  write a trained run's checkpoint as an ONNX model (onnxruntime, opset 17)
  import-onnx  register an ONNX denoiser from elsewhere (eps, x0 or v output) as a run to sample
  help       show this help

See: diffusion-studio <command> --help
`;

/** Resolves to the exit status (default 0): e.g. 130 for a training stopped by Ctrl-C. */
type Command = (argv: string[], out: NodeJS.WritableStream) => Promise<void | number>;

/** `sample --run ID` samples a trained run, `sample --model gmm:FILE` an analytic mixture. */
const sampleAny: Command = (argv, out) =>
  argv.some((a) => a === '--run' || a.startsWith('--run=')) ? sampleRunCommand(argv, out) : sampleCommand(argv, out);

const COMMANDS: Record<string, { run: Command; help: string }> = {
  train: { run: trainCommand, help: TRAIN_HELP },
  resume: { run: resumeCommand, help: RESUME_HELP },
  fork: { run: forkCommand, help: FORK_HELP },
  runs: { run: runsCommand, help: RUNS_HELP },
  sample: { run: sampleAny, help: `${SAMPLE_RUN_HELP}\n${SAMPLE_HELP}` },
  compare: { run: compareCommand, help: COMPARE_HELP },
  'export-onnx': { run: exportOnnxCommand, help: EXPORT_ONNX_HELP },
  'import-onnx': { run: importOnnxCommand, help: IMPORT_ONNX_HELP },
};

export async function runCli(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    out.write(HELP);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command "${name}"; run "diffusion-studio help" for the list`);
    if (rest.includes('--help') || rest.includes('-h')) {
      out.write(command.help);
      return 0;
    }
    return (await command.run(rest, out)) ?? 0;
  } catch (e) {
    const error = e as Error & { code?: string };
    // node:util parseArgs reports unknown or malformed flags with ERR_PARSE_ARGS_* codes: those are usage errors too.
    const usage = error instanceof UsageError || String(error.code ?? '').startsWith('ERR_PARSE_ARGS');
    const oneLine = error.message.replace(/\s*\n\s*/g, ' ').trim();
    err.write(`diffusion-studio${command ? ` ${name}` : ''}: ${usage ? '' : 'error: '}${oneLine}\n`);
    if (!usage && process.env.DEBUG) err.write(`${error.stack}\n`);
    return usage ? 2 : 1;
  }
}

export { parseArgs };
