/**
 * The `spec.admin` section: what the admin views may show, for mesh-sidecar's admin port and a
 * library's `mesh.admin()` alike. Tap streams requests (paths, headers) to whoever can reach the
 * admin port, so it is off unless turned on here; the stats window sets what "now" means for the
 * success rates, rates and percentiles.
 */
import { z } from 'zod';
import { durationSchema } from './service-schema.js';

export interface TapSettings {
  enabled: boolean;
  /** Most events one subscriber gets per second; the rest are skipped and counted. */
  maxEventsPerSecond: number;
  /** Headers never shown, besides authorization, proxy-authorization, cookie and set-cookie. */
  redactHeaders: string[];
}

export const TAP_DEFAULTS: TapSettings = { enabled: false, maxEventsPerSecond: 100, redactHeaders: [] };
export const DEFAULT_STATS_WINDOW_MS = 10_000;

/** RFC 9110 token characters: what a header name may be made of. */
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name such as x-api-key');

/** `tap: true` is short for `tap: { enabled: true }`. */
const tapSchema = z.preprocess(
  (value) => (typeof value === 'boolean' ? { enabled: value } : value),
  z
    .object(
      {
        /** Default true: writing the section means wanting the tap. */
        enabled: z.boolean().optional(),
        maxEventsPerSecond: z.number().int('expected a whole number').min(1, 'expected at least 1').max(10_000, 'expected at most 10000').optional(),
        redactHeaders: z.array(headerName).optional(),
      },
      { invalid_type_error: 'expected true, false or { enabled, maxEventsPerSecond, redactHeaders }' },
    )
    .strict(),
);

export const adminSchema = z
  .object({
    tap: tapSchema.optional(),
    statsWindow: durationSchema.refine((ms) => ms >= 1_000 && ms <= 600_000, 'expected a window from 1s to 10m').optional(),
  })
  .strict();

export type AdminSection = z.output<typeof adminSchema>;

export interface AdminSettings {
  tap: TapSettings;
  statsWindowMs: number;
}

/** Layers sections over the defaults: later ones (code options) win, field by field. */
export function adminSettings(...sections: (AdminSection | undefined)[]): AdminSettings {
  const settings: AdminSettings = { tap: { ...TAP_DEFAULTS }, statsWindowMs: DEFAULT_STATS_WINDOW_MS };
  for (const section of sections) {
    if (!section) continue;
    const tap = section.tap;
    if (tap !== undefined) {
      settings.tap = {
        enabled: tap.enabled ?? true,
        maxEventsPerSecond: tap.maxEventsPerSecond ?? settings.tap.maxEventsPerSecond,
        redactHeaders: tap.redactHeaders ?? settings.tap.redactHeaders,
      };
    }
    if (section.statsWindow !== undefined) settings.statsWindowMs = section.statsWindow;
  }
  return settings;
}

/**
 * Settings that follow config reloads: `configured` is read each time, and the settings rebuilt
 * only when it returns another section (tap reads them for every request it sees).
 */
export function followAdminSettings(configured: () => AdminSection | undefined, override?: AdminSection): () => AdminSettings {
  let cachedFor: AdminSection | undefined | null = null;
  let cached: AdminSettings = adminSettings();
  return () => {
    const section = configured();
    if (section !== cachedFor) {
      cached = adminSettings(section, override);
      cachedFor = section;
    }
    return cached;
  };
}
