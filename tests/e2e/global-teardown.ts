/** Removes the throwaway DIFFUSION_STUDIO_HOME that playwright.config.ts created for the server. */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

export default function globalTeardown(): void {
  const home = process.env.STUDIO_E2E_HOME;
  if (home && home.startsWith(tmpdir())) rmSync(home, { recursive: true, force: true });
}
