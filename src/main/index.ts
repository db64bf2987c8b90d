/**
 * Electron main: thin on purpose. It opens the service (the same one `npm run serve` uses), wires it to IPC and
 * opens the window; all computation runs in the service's worker threads, never here.
 */
import { app, BrowserWindow, dialog } from 'electron';
import { StudioService } from '../service/studio-service.ts';
import { registerIpc } from './ipc.ts';
import { createStudioWindow, hardenSession, isRendererUrl } from './window.ts';
import { workerEntries } from './worker-paths.ts';

let service: StudioService | undefined;

async function start(): Promise<void> {
  await app.whenReady();
  hardenSession();
  try {
    service = new StudioService({
      host: 'electron',
      version: app.getVersion(),
      workers: workerEntries(),
    });
  } catch (e) {
    dialog.showErrorBox('Diffusion Studio cannot open its data', (e as Error).message);
    app.exit(1);
    return;
  }
  registerIpc({ service, windows: () => BrowserWindow.getAllWindows(), isRendererUrl });
  createStudioWindow();

  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createStudioWindow();
  });
  app.on('second-instance', () => {
    const [win] = BrowserWindow.getAllWindows();
    if (win) {
      if (win.isMinimized()) win.restore();
      win.focus();
    }
  });
}

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

// Stop workers and close the database before exiting, once.
let closing = false;
app.on('before-quit', (event) => {
  if (!service || closing) return;
  closing = true;
  event.preventDefault();
  void service.close().finally(() => app.quit());
});

// A second launch focuses the running instance (one database writer per data directory).
if (app.requestSingleInstanceLock()) void start();
else app.quit();
