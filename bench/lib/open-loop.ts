// An open-loop load generator: request i is due at start + i / rate and its latency is counted
// from that intended start, so a server that falls behind shows its queueing in the numbers
// (no coordinated omission). Recorded in HDR histograms (hdr-histogram-js). Written here because
// wrk2, the tool that does this, is not packaged for this machine; wrk and autocannon time from
// the actual send.
import * as hdr from "hdr-histogram-js";

export type Histogram = ReturnType<typeof hdr.build>;
export const newHistogram = (): Histogram => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 }); // µs

export type Outcome = { kind: string; ok: boolean };
export type OpenLoopResult = {
  histograms: Map<string, Histogram>;
  errors: number;
  perSecond: { second: number; completed: number; p99ms: number }[];
  seconds: number;
  sent: number;
};

export async function openLoop(rate: number, seconds: number, send: (i: number) => Promise<Outcome>, maxInFlight = 5000): Promise<OpenLoopResult> {
  const histograms = new Map<string, Histogram>();
  const perSecond = new Map<number, Histogram>();
  let errors = 0;
  let inFlight = 0;
  const total = Math.round(rate * seconds);
  const start = performance.now() + 20;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0.5) await Bun.sleep(wait);
    while (inFlight >= maxInFlight) await Bun.sleep(1);
    inFlight++;
    // From the intended start when the request went out late (queueing counts), from the actual
    // send when a timer woke early (it must not look faster than it was).
    const origin = Math.min(due, performance.now());
    pending.push(
      send(i).then(
        (o) => {
          inFlight--;
          const done = performance.now();
          const us = Math.max(1, Math.round((done - origin) * 1000));
          if (!o.ok) errors++;
          let h = histograms.get(o.kind);
          if (!h) histograms.set(o.kind, (h = newHistogram()));
          h.recordValue(us);
          const sec = Math.floor((done - start) / 1000);
          let s = perSecond.get(sec);
          if (!s) perSecond.set(sec, (s = newHistogram()));
          s.recordValue(us);
        },
        () => {
          inFlight--;
          errors++;
        },
      ),
    );
  }
  await Promise.all(pending);
  return {
    histograms,
    errors,
    seconds: (performance.now() - start) / 1000,
    sent: total,
    perSecond: [...perSecond.entries()].sort((a, b) => a[0] - b[0]).map(([second, h]) => ({ second, completed: h.totalCount, p99ms: h.getValueAtPercentile(99) / 1000 })),
  };
}

export const summarize = (h: Histogram) => ({
  count: h.totalCount,
  p50ms: h.getValueAtPercentile(50) / 1000,
  p90ms: h.getValueAtPercentile(90) / 1000,
  p99ms: h.getValueAtPercentile(99) / 1000,
  p999ms: h.getValueAtPercentile(99.9) / 1000,
  maxMs: h.maxValue / 1000,
});

/** Percentile distribution rows (percentile, latency ms) for a chart. */
export function distribution(h: Histogram): [number, number][] {
  const out: [number, number][] = [];
  for (const p of [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100]) out.push([p, h.getValueAtPercentile(p) / 1000]);
  return out;
}
