// Table Storage plumbing shared by every store: clients from config, key escaping, error reading.
import { TableClient, type TableEntityResult, type TableServiceClientOptions } from "@azure/data-tables";
import { RestError } from "@azure/core-rest-pipeline";
import { DefaultAzureCredential } from "@azure/identity";
import type { Config } from "../config";
import { DependencyUnavailableError, RotationConflictError } from "../domain/errors";

export type TableRole = "policies" | "inventory" | "deks" | "ledger" | "seals" | "approvals" | "jwks" | "locks" | "branchKeys" | "branchDeks";

export function tableNameFor(cfg: Config, role: TableRole): string {
  switch (role) {
    case "policies": return cfg.KEYROTOR_TABLE_POLICIES;
    case "inventory": return cfg.KEYROTOR_TABLE_INVENTORY;
    case "deks": return cfg.KEYROTOR_TABLE_DEKS;
    case "ledger": return cfg.KEYROTOR_TABLE_LEDGER;
    case "seals": return cfg.KEYROTOR_TABLE_SEALS;
    case "approvals": return cfg.KEYROTOR_TABLE_APPROVALS;
    case "jwks": return cfg.KEYROTOR_TABLE_JWKS;
    case "locks": return cfg.KEYROTOR_TABLE_LOCKS;
    case "branchKeys": return cfg.KEYROTOR_TABLE_BRANCH_KEYS;
    case "branchDeks": return cfg.KEYROTOR_TABLE_BRANCH_DEKS;
  }
}

/** A TableClient for one of keyrotor's tables: connection string locally, managed identity in Azure. */
export function tableClient(cfg: Config, role: TableRole): TableClient {
  const name = tableNameFor(cfg, role);
  if (cfg.KEYROTOR_TABLES_CONNECTION) {
    const options: TableServiceClientOptions = { allowInsecureConnection: /UseDevelopmentStorage=true|http:\/\//i.test(cfg.KEYROTOR_TABLES_CONNECTION) };
    return TableClient.fromConnectionString(cfg.KEYROTOR_TABLES_CONNECTION, name, options);
  }
  return new TableClient(cfg.KEYROTOR_TABLES_URL!, name, new DefaultAzureCredential());
}

const created = new WeakSet<TableClient>();
/** Creates the table once per client (idempotent on the service side too). */
export async function ensureTable(client: TableClient): Promise<TableClient> {
  if (!created.has(client)) {
    await client.createTable();
    created.add(client);
  }
  return client;
}

/** Table keys may not contain / \ # ? or control characters; keyIds contain "/" and ":".
 * Percent-style escaping keeps keys readable and ordering stable. */
export function escapeKey(s: string): string {
  return s.replace(/[%/\\#?]|\p{Cc}/gu, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
export function unescapeKey(s: string): string {
  return s.replace(/%([0-9a-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** The service's error code: data-tables leaves `code` undefined for some statuses (e.g. 409). */
export function tableErrorCode(err: unknown): string | undefined {
  if (!(err instanceof RestError)) return undefined;
  const details = err.details as { odataError?: { code?: string }; errorCode?: string } | undefined;
  return err.code ?? details?.odataError?.code ?? details?.errorCode ?? err.response?.headers.get("x-ms-error-code") ?? undefined;
}

export function statusOf(err: unknown): number | undefined {
  return err instanceof RestError ? err.statusCode : undefined;
}

/** The row at (partitionKey, rowKey), or undefined when there is none (404); any other failure
 * goes through translateTableError with `what` naming the read. */
export async function getRowOrUndefined<T extends object>(table: TableClient, partitionKey: string, rowKey: string, what: string): Promise<TableEntityResult<T> | undefined> {
  try {
    return await table.getEntity<T>(partitionKey, rowKey);
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    return translateTableError(err, what);
  }
}

/** Maps storage failures into keyrotor's error families: 412/409 are conflicts, 408/429/5xx and
 * network errors are transient. Anything else is rethrown unchanged. */
export function translateTableError(err: unknown, what: string): never {
  const status = statusOf(err);
  if (status === 412 || status === 409) {
    throw new RotationConflictError(tableErrorCode(err) ?? "Conflict", `[keyrotor] [tables] ${what}: the row changed or exists (${status})`, { cause: err });
  }
  if (status === undefined || status === 408 || status === 429 || status >= 500) {
    if (err instanceof RestError || status !== undefined) {
      throw new DependencyUnavailableError("tables", `[keyrotor] [tables] ${what} failed: ${(err as Error).message}`, { cause: err });
    }
  }
  throw err;
}
