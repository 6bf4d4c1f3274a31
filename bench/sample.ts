/** The event every benchmark ingests or seals, so their figures compare. */

/** A spec/000 backup.completed event, about 600 bytes sealed. */
export function sampleEvent(i: number): Record<string, unknown> {
  return {
    event_type: i % 10 === 0 ? "access.denied" : "backup.completed",
    event_id: `evt_bench_${i}`,
    timestamp: "2024-12-01T10:15:30.123Z",
    actor: {
      type: "user",
      id: `user${i % 50}@company.com`,
      roles: ["backup-operator"],
      ip_address: "10.0.0.50",
    },
    resource: { type: "backup", id: `production-backup-${i}`, path: "s3://kafka-backups/production/" },
    action: { operation: "backup", result: "success", duration_ms: 45000 },
    context: { cluster_id: "prod-us-west-2", environment: "production", correlation_id: `req_${i}` },
    details: {
      records_backed_up: 1500000,
      bytes_backed_up: 524288000,
      topics: ["orders", "payments", "users"],
    },
  };
}
