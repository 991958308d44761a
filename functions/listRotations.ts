// GET /api/rotations[?keyId=&limit=]: rotation history from the ledger, newest first.
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions, queryOf } from "../lib/api/http";
import { CHAIN_ID } from "../lib/api/queries";
import { listRotations as history } from "../lib/api/rotations";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, validate } from "../lib/http/api";

const Query = z.strictObject({ keyId: CHAIN_ID.optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) });

export const listRotations = api({ role: ROUTES.listRotations.role }, async ({ req, ctx }) => {
  const q = validate(Query, queryOf(req));
  return json(200, { rotations: await history((await composition(ctx)).api, { limit: q.limit, ...(q.keyId ? { keyId: q.keyId } : {}) }) });
});

app.http(ROUTES.listRotations.name, httpOptions(ROUTES.listRotations, listRotations));
