// One Azurite per test run, on a free loopback port, in memory; tests reach it through inject().
import type { TestProject } from "vitest/node";
import { existsSync } from "node:fs";
import path from "node:path";
import { startAzuriteTables, type AzuriteTables } from "../../dev/peers/azurite/launcher";

let azurite: AzuriteTables | undefined;

export async function setup(project: TestProject): Promise<void> {
  // Printed from the main process so the notice survives the reporter's silencing of test logs.
  const specs = path.resolve(__dirname, "..", "..", "..", "shared", "specs");
  if (!existsSync(specs)) {
    process.stderr.write(`[keyrotor] [spec] ${specs} not found: the spec-validation tests (test/spec) are SKIPPED in this run\n`);
  }
  azurite = await startAzuriteTables();
  project.provide("azuriteTablesUrl", azurite.url);
  project.provide("azuriteConnectionString", azurite.connectionString);
}

export async function teardown(): Promise<void> {
  await azurite?.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    azuriteTablesUrl: string;
    azuriteConnectionString: string;
  }
}
