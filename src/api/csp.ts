/**
 * The renderer's Content-Security-Policy, shared by both hosts: the Electron build puts it in index.html's meta tag,
 * the server sends it as a header too. Nothing inline, nothing remote: scripts, styles and connections come from the
 * app's own origin only ('self' also covers the same-origin WebSocket).
 */
export const CSP_DIRECTIVES = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
] as const;

export const CONTENT_SECURITY_POLICY = CSP_DIRECTIVES.join('; ');

/** Header-only directives (browsers ignore them in a meta tag). */
export const CSP_HEADER = `${CONTENT_SECURITY_POLICY}; frame-ancestors 'none'`;
