// PUT /api/keys/{keyId} (Admin): registers a key or secret of a managed vault in the inventory with
// its policy (201 created, 200 the same registration again, 404 unknown vault or object, 409 the
// key is registered differently). The keyId is the route's catch-all: kek:demo-vault/tenant-kek, its
// "/" plain or as %2F (Azure decodes it before routing; see lib/api/routes.ts).
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions } from "../lib/api/http";
import { registerKey, RegisterKeyBody } from "../lib/api/registration";
import { routeParams, ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, readBody, validate } from "../lib/http/api";

export const putKey = api({ role: ROUTES.putKey.role }, async ({ req, ctx, principal }) => {
  const { keyId } = validate(z.object({ keyId: z.string().min(1).max(300) }), routeParams(req.params));
  const body = await readBody(req, RegisterKeyBody);
  const r = await registerKey((await composition(ctx)).api, principal!, keyId, body);
  return json(r.created ? 201 : 200, { key: r.key, ...(r.keyTypeChecked !== undefined ? { keyTypeChecked: r.keyTypeChecked } : {}) });
});

app.http(ROUTES.putKey.name, httpOptions(ROUTES.putKey, putKey));
