import type { Metric, Registry } from 'prom-client';

/** Seconds; the default prom-client buckets, which suit API latencies. */
export const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface Series {
  labels: { method: string; endpoint: string };
  /** Observations per bucket (not cumulative); the last slot is above every bound (+Inf only). */
  buckets: number[];
  sum: number;
  count: number;
  statuses: Map<number, number>;
}

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * http_requests_total{method,endpoint,status_code} and http_request_duration_seconds{method,endpoint},
 * recorded on the request path with one Map lookup and a few additions. prom-client's own Counter and
 * Histogram validate and hash the label object on every call (about 1 µs each), which was most of the
 * middleware's cost on a trivial route (bench/metrics.ts); here that work happens once per series and
 * the exposition is built at scrape time in prom-client's format, so the registry serialises it as usual.
 */
export class HttpRequestMetrics {
  readonly #series = new Map<string, Series>();

  /** One answered request. `endpoint` must be a route pattern (bounded), never a raw path. */
  record(method: string, endpoint: string, status: number, seconds: number): void {
    const key = `${method} ${endpoint}`;
    let s = this.#series.get(key);
    if (!s) {
      s = { labels: { method, endpoint }, buckets: new Array<number>(HTTP_DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0, statuses: new Map() };
      this.#series.set(key, s);
    }
    let i = 0;
    while (i < HTTP_DURATION_BUCKETS.length && seconds > (HTTP_DURATION_BUCKETS[i] as number)) i++;
    s.buckets[i] = (s.buckets[i] as number) + 1;
    s.sum += seconds;
    s.count += 1;
    s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
  }

  reset(): void {
    this.#series.clear();
  }

  #requestValues(): ExportedValue[] {
    const out: ExportedValue[] = [];
    for (const s of this.#series.values()) {
      for (const [status, n] of s.statuses) out.push({ labels: { ...s.labels, status_code: String(status) }, value: n });
    }
    return out;
  }

  #durationValues(): ExportedValue[] {
    const name = 'http_request_duration_seconds';
    const out: ExportedValue[] = [];
    for (const s of this.#series.values()) {
      let cumulative = 0;
      HTTP_DURATION_BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i] as number;
        out.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${name}_bucket` });
      });
      out.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${name}_bucket` });
      out.push({ labels: { ...s.labels }, value: s.sum, metricName: `${name}_sum` });
      out.push({ labels: { ...s.labels }, value: s.count, metricName: `${name}_count` });
    }
    return out;
  }

  /** Registers both families; the objects follow prom-client's metric contract (name, help, type, get, reset). */
  registerWith(registry: Registry): void {
    const family = (name: string, help: string, type: 'counter' | 'histogram', values: () => ExportedValue[]) =>
      ({
        name,
        help,
        type,
        aggregator: 'sum',
        get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
        reset: () => this.reset(),
      }) as unknown as Metric;
    registry.registerMetric(family('http_requests_total', 'HTTP requests answered, by route pattern.', 'counter', () => this.#requestValues()));
    registry.registerMetric(
      family(
        'http_request_duration_seconds',
        'Time to answer an HTTP request (to the response headers for streams), by route pattern.',
        'histogram',
        () => this.#durationValues(),
      ),
    );
  }
}
