/** Sizes as people write them: `512B`, `64KiB`, `1MiB`, `64KB` (×1000), or a bare number of bytes. */
const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(value);
  if (!m) return undefined;
  const unit = UNITS[(m[2] || 'b').toLowerCase()];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}
