#!/usr/bin/env node
// The CLI runs the TypeScript sources directly through tsx, so `npx diffusion-studio` never runs stale code.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
