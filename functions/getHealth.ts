// GET /api/health: components' status: notification delivery, each managed Key Vault, the ledger's
// last complete verification (the hourly audit's record in the locks table) and tables
// (lib/api/queries.ts, lib/api/healthComponents.ts).
import { app } from "@azure/functions";
import { config } from "../lib/config";
import { httpOptions } from "../lib/api/http";
import { health } from "../lib/api/queries";
import { ROUTES } from "../lib/api/routes";
import { services } from "../lib/api/services";
import { api, json } from "../lib/http/api";
import { TableAuditCheckpointStore } from "../lib/ledger/verifyCheckpoint";
import { tableClient } from "../lib/stores/tables";

export const getHealth = api({ role: ROUTES.getHealth.role }, async () => {
  const audit = new TableAuditCheckpointStore(tableClient(config(), "locks"));
  const h = await health(await services(), { auditRecord: () => audit.read() });
  return json(h.status === "down" ? 503 : 200, h);
});

app.http(ROUTES.getHealth.name, httpOptions(ROUTES.getHealth, getHealth));
