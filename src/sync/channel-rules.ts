import { z } from 'zod';

/**
 * Per-channel rules: how much of the ledger's available stock a shop lists. Pure; the planner
 * applies them to every listing of the shop.
 *
 * The listed quantity of a listing, in items (a box of 6 is one item):
 *   items  = floor(ATS over the channel's warehouses / units per item)
 *   shared = floor(items × sharePercent / 100)          (explicitly rounded down)
 *   q      = shared − safetyStock − buffer, at least 0
 *   q      = min(q, maxQuantity)                        (when set)
 *   q      = 0 when q < minQuantity                     (a listing shows 0 or at least the minimum)
 */

const int = (min: number, max: number) => {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

/** Units held back per listing for sales expected while a push is on its way. */
export const bufferSchema = z.discriminatedUnion(
  'mode',
  [
    z.strictObject({ mode: z.literal('off') }),
    /** The same number of items held back on every listing. */
    z.strictObject({ mode: z.literal('fixed'), units: int(0, 1_000_000) }),
    /**
     * Sales velocity of the listing's SKU (units reserved per second over `windowMinutes`, all
     * channels) × the shop's measured push latency (p95 over the last hour, at least
     * `minLatencyMs`), rounded up, capped at `maxUnits`.
     */
    z.strictObject({
      mode: z.literal('adaptive'),
      windowMinutes: int(1, 24 * 60).default(15),
      minLatencyMs: int(0, 600_000).default(2000),
      maxUnits: int(0, 1_000_000).default(50),
    }),
  ],
  { error: 'expected { mode: "off" | "fixed" | "adaptive", ... }' },
);

export const pushRulesSchema = z
  .strictObject({
    /** Push stock to this shop at all. Default true. */
    enabled: z.boolean({ error: 'expected true or false' }).default(true),
    /** Warehouse codes whose stock this channel lists. Default: the shop's `warehouses`. */
    warehouses: z
      .array(z.string().min(1), { error: 'expected a list of warehouse codes' })
      .min(1, { error: 'expected at least one warehouse code' })
      .optional(),
    /** Share of the available stock listed here, in percent, rounded down. Default 100. */
    sharePercent: int(0, 100).default(100),
    /** Items never listed on this channel (per listing). Default 0. */
    safetyStock: int(0, 1_000_000).default(0),
    /** Below this the listing shows 0. Default 0. */
    minQuantity: int(0, 1_000_000).default(0),
    /** Never list more than this. Default unset. */
    maxQuantity: int(0, 100_000_000).optional(),
    buffer: bufferSchema.default({ mode: 'off' }),
  })
  .refine((r) => r.maxQuantity === undefined || r.maxQuantity >= r.minQuantity, {
    error: 'maxQuantity must not be below minQuantity',
  });

export type PushRules = z.infer<typeof pushRulesSchema>;
export type BufferRule = z.infer<typeof bufferSchema>;

export const DEFAULT_PUSH_RULES: PushRules = pushRulesSchema.parse({});

/** The quantity a listing shows, given the ATS in stock units (see the module comment). */
export function listedQuantity(
  atsUnits: number,
  unitsPerItem: number,
  rules: Pick<PushRules, 'sharePercent' | 'safetyStock' | 'minQuantity' | 'maxQuantity'>,
  buffer = 0,
): number {
  const items = Math.floor(Math.max(0, atsUnits) / unitsPerItem);
  // Integer arithmetic: items × percent / 100 rounded down, without float error.
  const shared = Math.floor((items * rules.sharePercent) / 100);
  let q = Math.max(0, shared - rules.safetyStock - buffer);
  if (rules.maxQuantity !== undefined) q = Math.min(q, rules.maxQuantity);
  return q < rules.minQuantity ? 0 : q;
}

/**
 * Items to hold back for expected sales: velocity (stock units per second) × latency, in items,
 * rounded up; `fixed` is the configured count; `off` holds nothing.
 */
export function bufferItems(
  rule: BufferRule,
  unitsPerSecond: number,
  latencyMs: number,
  unitsPerItem: number,
): number {
  if (rule.mode === 'off') return 0;
  if (rule.mode === 'fixed') return rule.units;
  const seconds = Math.max(latencyMs, rule.minLatencyMs) / 1000;
  return Math.min(rule.maxUnits, Math.ceil((unitsPerSecond * seconds) / unitsPerItem));
}
