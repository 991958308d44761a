// Tables the local host keeps beside the app's own (the durable history, the demo seed marker), on
// the same storage the settings name: a connection string (Azurite) or an endpoint with
// DefaultAzureCredential (a real account).
import { TableClient } from "@azure/data-tables";
import { DefaultAzureCredential } from "@azure/identity";
import type { Config } from "../../lib/config";

export const HISTORY_TABLE = "keyrotorhistory";
export const SEED_TABLE = "keyrotordemo";

export function hostTable(cfg: Config, name: string): TableClient {
  const conn = cfg.KEYROTOR_TABLES_CONNECTION;
  if (conn) return TableClient.fromConnectionString(conn, name, { allowInsecureConnection: /UseDevelopmentStorage=true|http:\/\//i.test(conn) });
  return new TableClient(cfg.KEYROTOR_TABLES_URL!, name, new DefaultAzureCredential());
}
