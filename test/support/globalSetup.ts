// One Azurite per test run, on a free loopback port, in memory; tests reach it through inject().
import type { TestProject } from "vitest/node";
import { startAzuriteTables, type AzuriteTables } from "../../dev/peers/azurite/launcher";

let azurite: AzuriteTables | undefined;

export async function setup(project: TestProject): Promise<void> {
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
