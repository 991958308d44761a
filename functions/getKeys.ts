// GET /api/keys: the inventory with each key's policy, primary version, next due time and expiry.
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions, queryOf } from "../lib/api/http";
import { listKeys } from "../lib/api/queries";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, validate } from "../lib/http/api";

export const getKeys = api({ role: ROUTES.getKeys.role }, async ({ req, ctx }) => {
  validate(z.strictObject({}), queryOf(req));
  return json(200, { keys: await listKeys((await composition(ctx)).api) });
});

app.http(ROUTES.getKeys.name, httpOptions(ROUTES.getKeys, getKeys));
