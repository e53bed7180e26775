/** The lease (src/store/leases) that makes one member of an embedded consumer group the active one. */
export function groupLeaseName(group: string): string {
  return `event_log_group:${group}`;
}
