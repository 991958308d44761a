// GET /api/jwks/{vault}/{key}: public keys of a managed signing key, for verifiers (no principal).
import { app } from "@azure/functions";
import { httpOptions } from "../lib/api/http";
import { jwks, JWKS_PART } from "../lib/api/queries";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, validate } from "../lib/http/api";
import { z } from "zod";

const Params = z.object({ vault: JWKS_PART, key: JWKS_PART });

export const getJwks = api({ role: ROUTES.getJwks.role }, async ({ req, ctx }) => {
  const p = validate(Params, req.params);
  return json(200, await jwks((await composition(ctx)).api, p.vault, p.key), { "cache-control": "public, max-age=300", "content-type": "application/jwk-set+json" });
});

app.http(ROUTES.getJwks.name, httpOptions(ROUTES.getJwks, getJwks));
