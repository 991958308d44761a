// GET /api/ledger/{keyId}[?fromSeq=&limit=]: one key's ledger entries in order.
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions, queryOf } from "../lib/api/http";
import { CHAIN_ID, ledgerEntries, LedgerQuery } from "../lib/api/queries";
import { routeParams, ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, validate } from "../lib/http/api";

export const getLedger = api({ role: ROUTES.getLedger.role }, async ({ req, ctx }) => {
  const { keyId } = validate(z.object({ keyId: CHAIN_ID }), routeParams(req.params));
  const q = validate(LedgerQuery, queryOf(req));
  return json(200, await ledgerEntries((await composition(ctx)).api, keyId, q));
});

app.http(ROUTES.getLedger.name, httpOptions(ROUTES.getLedger, getLedger));
