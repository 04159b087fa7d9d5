/**
 * A fast, well-mixed 32-bit hash of a string, for consistent hashing: FNV-1a over the UTF-16 code
 * units, then MurmurHash3's 32-bit finaliser, whose avalanche spreads keys that differ in one
 * character (`user-1`, `user-2`) over the whole range, as ring and table positions need. It is not
 * a defence against chosen keys; neither is Envoy's xxHash in the same place.
 */
export function hashString(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
