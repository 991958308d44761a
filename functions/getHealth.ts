// GET /api/health: components' status: notification delivery, each managed Key Vault, the ledger's
// last complete verification (the hourly audit's record) and tables (lib/api/queries.ts,
// lib/api/healthComponents.ts).
import { app } from "@azure/functions";
import { httpOptions } from "../lib/api/http";
import { health } from "../lib/api/queries";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json } from "../lib/http/api";

export const getHealth = api({ role: ROUTES.getHealth.role }, async ({ ctx }) => {
  const h = await health((await composition(ctx)).api);
  return json(h.status === "down" ? 503 : 200, h);
});

app.http(ROUTES.getHealth.name, httpOptions(ROUTES.getHealth, getHealth));
