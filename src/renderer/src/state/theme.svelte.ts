/**
 * Light / dark theme: follows the system (prefers-color-scheme) until the user picks one, which is remembered.
 * The choice lands on <html data-theme>, where the CSS variables in app.css switch.
 */
export type Theme = 'light' | 'dark';

const STORAGE_KEY = 'diffusion-studio:theme';

function systemTheme(): Theme {
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function storedTheme(): Theme | null {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    return v === 'light' || v === 'dark' ? v : null;
  } catch {
    return null;
  }
}

export class ThemeState {
  current = $state<Theme>(storedTheme() ?? systemTheme());

  constructor() {
    document.documentElement.dataset.theme = this.current;
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      if (!storedTheme()) this.#apply(systemTheme());
    });
  }

  toggle(): void {
    const next: Theme = this.current === 'dark' ? 'light' : 'dark';
    try {
      localStorage.setItem(STORAGE_KEY, next);
    } catch {
      // Storage can be unavailable (private mode); the choice then lasts for this session.
    }
    this.#apply(next);
  }

  #apply(theme: Theme): void {
    this.current = theme;
    document.documentElement.dataset.theme = theme;
  }
}
