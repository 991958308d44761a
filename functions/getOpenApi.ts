// GET /api/openapi.json: the OpenAPI 3.1 document of this API (lib/http/openapi.ts).
import { app } from "@azure/functions";
import { httpOptions } from "../lib/api/http";
import { ROUTES } from "../lib/api/routes";
import { api, json } from "../lib/http/api";
import { openApiDocument } from "../lib/http/openapi";

export const getOpenApi = api({ role: ROUTES.getOpenApi.role }, async () => json(200, openApiDocument(), { "cache-control": "public, max-age=300" }));

app.http(ROUTES.getOpenApi.name, httpOptions(ROUTES.getOpenApi, getOpenApi));
