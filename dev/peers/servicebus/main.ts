// `npm run peer:servicebus`: the Service Bus peer alone, in auto-create mode (queues, topics and
// subscriptions are created on first use, duplicate detection on). PORT overrides 5672.
// Optional pre-declared entities: SERVICEBUS_QUEUES="q1,q2", SERVICEBUS_TOPICS="t1=sub1+sub2;t2=sub".
import { startServiceBusPeer } from "./index";
import { watchLaunchers } from "../lifetime";
import { ensurePortFree } from "../ports";

function topicsFromEnv(spec: string | undefined): Record<string, string[]> {
  const topics: Record<string, string[]> = {};
  for (const entry of (spec ?? "").split(";").map((s) => s.trim()).filter(Boolean)) {
    const [name, subs = ""] = entry.split("=");
    if (name) topics[name.trim()] = subs.split("+").map((s) => s.trim()).filter(Boolean);
  }
  return topics;
}

async function main(): Promise<void> {
  const port = Number(process.env["PORT"] ?? 5672);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`[servicebus-peer] PORT must be a port number, got "${process.env["PORT"]}"`);
  await ensurePortFree(port, "the Service Bus peer", "set PORT to a free port (0 picks one)");
  const peer = await startServiceBusPeer({
    port,
    autoCreate: true,
    queues: (process.env["SERVICEBUS_QUEUES"] ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    topics: topicsFromEnv(process.env["SERVICEBUS_TOPICS"]),
  });
  console.log(`Service Bus peer (AMQP 1.0, auto-create) listening on 127.0.0.1:${peer.port}`);
  console.log(`connection string: ${peer.connectionString}`);
  const stop = (): void => {
    void peer.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  // Never outlive whatever started it (npm, a bench, a shell job): see dev/peers/lifetime.ts.
  watchLaunchers(stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
