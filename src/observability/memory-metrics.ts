import { getHeapStatistics } from 'node:v8';
import { Gauge, type Registry } from 'prom-client';
import type { CacheBudget } from '../auth/local-cache.js';

// The memory settings of the guide's FAQ ("메모리 사용량을 줄이려면"), made visible so an operator sees that
// each took effect: the V8 heap limit (NODE_OPTIONS=--max-old-space-size, Node's counterpart of GOGC) and
// what the in-process caches hold against cache.max_size.

/** aicli_process_heap_limit_bytes: the heap size V8 stops at (--max-old-space-size plus the young space). */
export function registerHeapLimitGauge(registry: Registry): void {
  // registers: this process's registry only, never prom-client's global one.
  new Gauge({
    registers: [registry],
    name: 'aicli_process_heap_limit_bytes',
    help: 'V8 heap size limit of this process (set with NODE_OPTIONS=--max-old-space-size=<MB>).',
    collect(this: Gauge<string>) {
      this.set(getHeapStatistics().heap_size_limit);
    },
  });
}

/** aicli_cache_bytes and aicli_cache_max_bytes: the identity caches' estimated size against cache.max_size. */
export function registerCacheGauges(registry: Registry, budget: CacheBudget): void {
  // An app built again on the same registry (tests) reports its own budget.
  for (const name of ['aicli_cache_bytes', 'aicli_cache_max_bytes']) registry.removeSingleMetric(name);
  new Gauge({
    registers: [registry],
    name: 'aicli_cache_bytes',
    help: 'Estimated bytes the in-process caches hold now (bounded by cache.max_size).',
    collect(this: Gauge<string>) {
      this.set(budget.used);
    },
  });
  new Gauge({
    registers: [registry],
    name: 'aicli_cache_max_bytes',
    help: 'cache.max_size in bytes.',
    collect(this: Gauge<string>) {
      this.set(budget.maxBytes);
    },
  });
}
