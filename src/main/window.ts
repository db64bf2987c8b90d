/**
 * The studio window, locked down: sandboxed renderer, context isolation, no Node, no navigation away from the app,
 * no new windows, no permission grants. The CSP itself ships in index.html (see src/api/csp.ts).
 */
import { BrowserWindow, nativeTheme, session } from 'electron';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import icon from '../../resources/icon.png?asset';

const rendererDir = join(import.meta.dirname, '../renderer');
const devServerUrl = process.env.ELECTRON_RENDERER_URL;

/** The only pages that may use the API: the built index.html, or the dev server's origin in development. */
export function isRendererUrl(url: string): boolean {
  if (devServerUrl) return new URL(url).origin === new URL(devServerUrl).origin;
  return url.split(/[?#]/)[0] === pathToFileURL(join(rendererDir, 'index.html')).href;
}

export function hardenSession(): void {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
}

export function createStudioWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 960,
    minHeight: 640,
    show: false,
    title: 'Diffusion Studio',
    backgroundColor: nativeTheme.shouldUseDarkColors ? '#14161b' : '#f5f6f8',
    // Windows and macOS take the icon from the packaged executable; Linux window managers need it here.
    ...(process.platform === 'linux' ? { icon } : {}),
    webPreferences: {
      preload: join(import.meta.dirname, '../preload/index.cjs'),
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  win.webContents.on('will-navigate', (event, url) => {
    if (!isRendererUrl(url)) event.preventDefault();
  });
  win.webContents.on('will-attach-webview', (event) => event.preventDefault());

  if (devServerUrl) void win.loadURL(devServerUrl);
  else void win.loadFile(join(rendererDir, 'index.html'));
  return win;
}
