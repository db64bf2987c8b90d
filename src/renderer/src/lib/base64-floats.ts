/** Float32 arrays that came through a JSON reply as base64 of their little-endian bytes (see RunPreview). */
export function float32FromBase64(base64: string): Float32Array {
  const binary = atob(base64);
  if (binary.length % 4 !== 0) throw new Error(`base64 float32 data has ${binary.length} bytes, not a multiple of 4`);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  // Every platform the studio runs on is little-endian; DataView would cost a copy per value for nothing.
  return new Float32Array(bytes.buffer);
}
