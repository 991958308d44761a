import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtureHost } from "./support";

describe("dev host vertical slice", () => {
  let host: Awaited<ReturnType<typeof fixtureHost>>;
  beforeAll(async () => {
    host = await fixtureHost();
  });
  afterAll(async () => {
    await host.stop();
  });

  it("runs an orchestration whose activities complete, via the client", async () => {
    const id = await host.client.startNew("sequence", { input: ["A", "B"] });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 10_000 });
    expect(status.runtimeStatus).toBe("Completed");
    expect(status.output).toEqual(["Hello A", "Hello B"]);
  });
});
