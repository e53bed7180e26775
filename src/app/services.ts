import type { VariableDoc } from '../platform/config.ts';
import type { Service } from '../runtime/service.ts';
import { receiptsService } from '../services/receipts/index.ts';

/**
 * Every paystream service. Adding one (push, SMS, fraud, ...) adds its folder under src/services
 * and one line here: its tables are migrated, its routes served, its consumers run by `paystream
 * start` and `paystream worker <consumer>`. Nothing in the payment core changes.
 */
export const services: readonly Service[] = [receiptsService];

/** The services' own PAYSTREAM_* settings, known to the configuration. */
export const serviceVariables: readonly VariableDoc[] = services.flatMap((s) => s.variables ?? []);

/** Every consumer name, with its service. */
export function consumerNames(): string[] {
  return services.flatMap((s) => s.consumerNames);
}
