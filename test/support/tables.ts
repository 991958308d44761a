// Real @azure/data-tables clients against the run's Azurite, one uniquely named table per call so
// tests never see each other's rows.
import { inject } from "vitest";
import { AzureNamedKeyCredential, TableClient, TableServiceClient } from "@azure/data-tables";
import { randomBytes } from "node:crypto";
import { DEVSTORE_ACCOUNT, DEVSTORE_KEY } from "../../dev/peers/azurite/launcher";

export const devstoreCredential = new AzureNamedKeyCredential(DEVSTORE_ACCOUNT, DEVSTORE_KEY);

export function azuriteUrl(): string {
  return inject("azuriteTablesUrl");
}

export function uniqueTableName(prefix = "t"): string {
  return `${prefix}${randomBytes(6).toString("hex")}`.replace(/[^A-Za-z0-9]/g, "").slice(0, 63);
}

export async function freshTable(prefix = "t"): Promise<TableClient> {
  const client = new TableClient(azuriteUrl(), uniqueTableName(prefix), devstoreCredential, { allowInsecureConnection: true });
  await client.createTable();
  return client;
}

export function tableService(): TableServiceClient {
  return new TableServiceClient(azuriteUrl(), devstoreCredential, { allowInsecureConnection: true });
}
