/**
 * `diffusion-studio <command>`: the command-line face of the studio. Every failure the user can cause prints one
 * line, `diffusion-studio: <problem>`, and exits 2; anything else exits 1 with the message (stack with DEBUG=1).
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';
import { SAMPLE_HELP, sampleCommand } from './sample.ts';

const HELP = `Usage: diffusion-studio <command> [options]

Commands:
  sample     sample an analytic Gaussian-mixture model with any sampler (see: diffusion-studio sample --help)
  help       show this help
`;

type Command = (argv: string[], out: NodeJS.WritableStream) => Promise<void>;
const COMMANDS: Record<string, { run: Command; help: string }> = {
  sample: { run: sampleCommand, help: SAMPLE_HELP },
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
    await command.run(rest, out);
    return 0;
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
