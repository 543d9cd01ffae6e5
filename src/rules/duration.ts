/**
 * The `window` extension of a rule: a duration written like `90s`, `5m` or `1h30m`.
 *
 * @module
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const WHOLE = /^(?:\d{1,15}(?:ms|s|m|h|d))+$/;
const PART = /(\d{1,15})(ms|s|m|h|d)/g;

/**
 * The length of `text` in milliseconds: one or more `<integer><unit>` parts, units `ms`, `s`,
 * `m`, `h` and `d`, summed (`1h30m` is 5,400,000). `undefined` when `text` is not such a duration
 * (no spaces, no fractions, no sign).
 */
export function parseDuration(text: string): number | undefined {
  if (!WHOLE.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * UNIT_MS[unit as string]!;
  }
  return Number.isSafeInteger(total) ? total : undefined;
}
