import { describe, expect, it } from "vitest";
import { freshTable } from "../../support/tables";

describe("Azurite test setup", () => {
  it("serves a real Table endpoint that round-trips an entity", async () => {
    const table = await freshTable();
    await table.createEntity({ partitionKey: "p", rowKey: "r", value: 42 });
    const got = await table.getEntity<{ value: number }>("p", "r");
    expect(got.value).toBe(42);
  });
});
