// dev/host's status link answers `showHistory=true` in the real Durable extension's format: the
// answers recorded on the real extension (test/fixtures/realRuntime/showHistory.json, by
// test/realruntime/durableHistoryFormat.test.ts) give the shape each case must have. Real clock: the
// retry cases wait for their 1 s durable timers.
import { afterAll, beforeAll, describe } from "vitest";
import { fixtureHost } from "../integration/host/support";
import { durableHistoryContract } from "../support/durableHistoryContract";

describe("dev/host's showHistory format", () => {
  let host: Awaited<ReturnType<typeof fixtureHost>>;
  beforeAll(async () => {
    host = await fixtureHost({ clock: "real", runSchedules: false });
  });
  afterAll(async () => {
    await host?.stop();
  });

  durableHistoryContract(() => ({ origin: () => host.url, systemKey: () => host.durableWebhookKey }));
});
