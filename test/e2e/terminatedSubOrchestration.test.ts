// A terminated sub-orchestration as its parent sees it on dev/host, held to the answer recorded on the
// real Durable extension (test/support/terminatedSubOrchestrationContract.ts).
import { afterAll, beforeAll, describe } from "vitest";
import { fixtureHost } from "../integration/host/support";
import { terminatedSubOrchestrationContract } from "../support/terminatedSubOrchestrationContract";

describe("a terminated sub-orchestration on dev/host", () => {
  let host: Awaited<ReturnType<typeof fixtureHost>>;
  beforeAll(async () => {
    host = await fixtureHost({ clock: "real", runSchedules: false });
  });
  afterAll(async () => {
    await host?.stop();
  });

  terminatedSubOrchestrationContract(() => ({ origin: () => host.url, systemKey: () => host.durableWebhookKey }));
});
