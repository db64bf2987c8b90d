/** Runs the CLI in-process with captured output, as the tests of every command need it. */
import { Writable } from 'node:stream';
import { runCli } from '../../../src/cli/main.ts';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** `onLine` sees every stdout line as it is written (Writable calls _write synchronously in write()). */
export async function cliCapture(args: string[], onLine?: (line: string) => void): Promise<CliResult> {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        add(String(chunk));
        cb();
      },
    });
  const code = await runCli(
    args,
    sink((s) => {
      out += s;
      if (onLine) for (const line of s.split('\n')) if (line) onLine(line);
    }),
    sink((s) => (err += s)),
  );
  return { code, out, err };
}
