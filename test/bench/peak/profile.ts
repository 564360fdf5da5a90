/**
 * The 双11 load profile: orders per second offered over time. A quiet shop (the normal rate),
 * then midnight: an exponential ramp to the peak (`peak / normal` = {@link PEAK_FACTOR}), then
 * the peak held for the sustained window, which is what the throughput figures are taken over.
 */

/** Peak rate over normal rate. Issue 6: the peak is 50-100x a normal day. */
export const PEAK_FACTOR = 80;

export type Phase = 'normal' | 'ramp' | 'sustained' | 'drain';

export interface Profile {
  /** Peak orders per second. */
  peak: number;
  normalSeconds: number;
  rampSeconds: number;
  sustainedSeconds: number;
}

export function normalRate(p: Profile): number {
  return p.peak / PEAK_FACTOR;
}

/** Seconds from the start of the profile to the start of the sustained window. */
export function sustainedStart(p: Profile): number {
  return p.normalSeconds + p.rampSeconds;
}

export function profileSeconds(p: Profile): number {
  return p.normalSeconds + p.rampSeconds + p.sustainedSeconds;
}

export function phaseAt(p: Profile, t: number): Phase {
  if (t < p.normalSeconds) return 'normal';
  if (t < sustainedStart(p)) return 'ramp';
  if (t < profileSeconds(p)) return 'sustained';
  return 'drain';
}

/** Orders per second offered at `t` seconds. */
export function rateAt(p: Profile, t: number): number {
  const n = normalRate(p);
  switch (phaseAt(p, t)) {
    case 'normal':
      return n;
    case 'ramp':
      return n * (p.peak / n) ** ((t - p.normalSeconds) / p.rampSeconds);
    case 'sustained':
      return p.peak;
    case 'drain':
      return 0;
  }
}

/** Orders offered from 0 to `t` seconds (the integral of {@link rateAt}). */
export function offeredBy(p: Profile, t: number): number {
  const n = normalRate(p);
  const k = Math.log(p.peak / n) / p.rampSeconds;
  const normal = n * Math.min(t, p.normalSeconds);
  if (t <= p.normalSeconds) return normal;
  const inRamp = Math.min(t, sustainedStart(p)) - p.normalSeconds;
  const ramp = (n / k) * (Math.exp(k * inRamp) - 1);
  if (t <= sustainedStart(p)) return normal + ramp;
  return normal + ramp + p.peak * (Math.min(t, profileSeconds(p)) - sustainedStart(p));
}
