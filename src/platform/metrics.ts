import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * prom-client's default gauges whose names end in `_total`, which Prometheus reserves for
 * counters (`promtool check metrics` refuses them). Each is the sum of a by-type gauge that stays
 * (`paystream_nodejs_active_handles{type}` and the others), so removing them loses nothing.
 */
const misnamedDefaults = [
  'paystream_nodejs_active_handles_total',
  'paystream_nodejs_active_requests_total',
  'paystream_nodejs_active_resources_total',
];

/**
 * The process's metrics registry (prom-client), served at `/metrics` in Prometheus' text format.
 * One per process; each part adds its own metrics to it (the consumer runtime: runtime/metrics.ts).
 * What it serves passes `promtool check metrics` (test/admin/metrics-promtool.test.ts).
 */
export function createMetricsRegistry(options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: 'paystream_' });
    for (const name of misnamedDefaults) registry.removeSingleMetric(name);
  }
  return registry;
}
