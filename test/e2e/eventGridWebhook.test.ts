// dev/host's Event Grid webhook answers as the real Event Grid extension 3.3.0 does (the cases are
// pinned on the real extension by test/realruntime/eventGridWebhook.test.ts).
import { afterAll, beforeAll, describe } from "vitest";
import { fixtureHost } from "../integration/host/support";
import { eventGridWebhookContract } from "../support/eventGridWebhookContract";

describe("dev/host's Event Grid webhook", () => {
  let host: Awaited<ReturnType<typeof fixtureHost>>;
  beforeAll(async () => {
    host = await fixtureHost();
  });
  afterAll(async () => {
    await host?.stop();
  });

  eventGridWebhookContract(() => host.url, () => host.eventGridWebhookKey);
});
