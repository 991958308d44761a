// GET /api/ledger/verify: {ok, chains, entries, seals, firstBreak?} over the whole ledger.
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions, queryOf } from "../lib/api/http";
import { verifyLedger as verify } from "../lib/api/queries";
import { ROUTES } from "../lib/api/routes";
import { services } from "../lib/api/services";
import { api, json, validate } from "../lib/http/api";

export const verifyLedger = api({ role: ROUTES.verifyLedger.role }, async ({ req }) => {
  validate(z.strictObject({}), queryOf(req));
  return json(200, await verify(await services()));
});

app.http(ROUTES.verifyLedger.name, httpOptions(ROUTES.verifyLedger, verifyLedger));
