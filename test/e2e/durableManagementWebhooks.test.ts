// dev/host's /runtime/webhooks/durabletask answers the app's check-status links and the creation URL
// as the real Durable extension's HttpApiHandler does (the cases are pinned on the real extension by
// test/realruntime/durableManagementWebhooks.test.ts).
import { afterAll, beforeAll, describe } from "vitest";
import { fixtureHost } from "../integration/host/support";
import { durableManagementWebhookContract } from "../support/durableManagementWebhookContract";

describe("dev/host's Durable management webhooks", () => {
  let host: Awaited<ReturnType<typeof fixtureHost>>;
  beforeAll(async () => {
    host = await fixtureHost();
  });
  afterAll(async () => {
    await host?.stop();
  });

  durableManagementWebhookContract(() => ({ origin: () => host.url, invokeHttp: (m, p, body) => host.invokeHttp(m, p, { body }), systemKey: () => host.durableWebhookKey }));
});
