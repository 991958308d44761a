import { describe, expect, it } from "vitest";
import { SETTING_NAMES, settingsSchema } from "../../../lib/config";
import { blockAfter, params, read, topLevelKeys } from "./bicep";

const functionApp = read("infra/modules/functionApp.bicep");
const appSettings = topLevelKeys(blockAfter(functionApp, "var appSettings ="));

/** Settings lib/config.ts reads that the Azure template deliberately leaves unset, and why. */
const NOT_SET_IN_AZURE: Record<string, string> = {
  KEYROTOR_TABLES_CONNECTION: "alternative to KEYROTOR_TABLES_URL for Azurite; in Azure it would carry an account key",
  KEYROTOR_SERVICEBUS_CONNECTION: "alternative to KEYROTOR_SERVICEBUS_NAMESPACE for the local peer; in Azure it would carry a SAS key",
  KEYROTOR_KEYVAULT_CA_FILE: "only the local Key Vault peer has a private CA; Azure Key Vault's chain is public",
  KEYROTOR_ARM_CA_FILE: "only the local ARM peer has a private CA; Azure Resource Manager's chain is public",
};

describe("the Function App's settings", () => {
  it("set every setting lib/config.ts reads, except the documented local-only ones", () => {
    const missing = SETTING_NAMES.filter((n) => !appSettings.includes(n) && !(n in NOT_SET_IN_AZURE));
    expect(missing).toEqual([]);
  });

  it("leave the local-only settings unset, and the allow-list names only real settings", () => {
    for (const name of Object.keys(NOT_SET_IN_AZURE)) {
      expect(SETTING_NAMES as readonly string[]).toContain(name);
      expect(appSettings).not.toContain(name);
    }
  });

  it("set KEYROTOR_TASK_HUB, which host.json reads for the Durable task hub", () => {
    expect(read("host.json")).toContain("%KEYROTOR_TASK_HUB%");
    expect(appSettings).toContain("KEYROTOR_TASK_HUB");
  });

  it("reach storage through the managed identity, never with an account key or connection string", () => {
    expect(appSettings).toEqual(expect.arrayContaining(["AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID"]));
    expect(appSettings).not.toContain("AzureWebJobsStorage");
    // Flex Consumption takes the runtime from functionAppConfig.runtime and rejects this setting.
    expect(appSettings).not.toContain("FUNCTIONS_WORKER_RUNTIME");
    expect(blockAfter(functionApp, "var appSettings =")).not.toMatch(/AccountKey|SharedAccessKey|listKeys\(/i);
    expect(functionApp).toMatch(/AzureWebJobsStorage__credential:\s*'managedidentity'/);
  });

  it("use the code's default table names, so the tables the template creates are the ones the app opens", () => {
    const main = read("infra/main.bicep");
    const tables = blockAfter(main, "var tables =");
    const byKey: Record<string, string> = {
      KEYROTOR_TABLE_POLICIES: "policies", KEYROTOR_TABLE_INVENTORY: "inventory", KEYROTOR_TABLE_DEKS: "deks",
      KEYROTOR_TABLE_LEDGER: "ledger", KEYROTOR_TABLE_SEALS: "seals", KEYROTOR_TABLE_APPROVALS: "approvals", KEYROTOR_TABLE_JWKS: "jwks",
      KEYROTOR_TABLE_LOCKS: "locks", KEYROTOR_TABLE_BRANCH_KEYS: "branchKeys", KEYROTOR_TABLE_BRANCH_DEKS: "branchDeks",
    };
    const tableSettings = SETTING_NAMES.filter((n) => n.startsWith("KEYROTOR_TABLE_"));
    expect(tableSettings.sort()).toEqual(Object.keys(byKey).sort());
    for (const setting of tableSettings) {
      const key = byKey[setting]!;
      const codeDefault = settingsSchema[setting].parse(undefined) as string;
      expect(tables).toMatch(new RegExp(`\\b${key}:\\s*'${codeDefault}'`));
      expect(functionApp).toMatch(new RegExp(`${setting}:\\s*tables\\.${key}\\b`));
    }
  });

  it("name the events topic as the code's default KEYROTOR_EVENTS_TOPIC", () => {
    const topic = params(read("infra/main.bicep")).find((p) => p.name === "eventsTopicName");
    expect(topic?.defaultText).toBe(`'${settingsSchema.KEYROTOR_EVENTS_TOPIC.parse(undefined)}'`);
    expect(read("infra/main.bicep")).toMatch(/topicName:\s*eventsTopicName/);
    expect(functionApp).toMatch(/KEYROTOR_EVENTS_TOPIC:\s*eventsTopicName/);
  });

  it("default the timer schedule to the code's default", () => {
    const timer = params(read("infra/main.bicep")).find((p) => p.name === "timerSchedule");
    expect(timer?.defaultText).toBe(`'${settingsSchema.KEYROTOR_TIMER_SCHEDULE.parse(undefined)}'`);
  });
});
