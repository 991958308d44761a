// The JWKS contract against the memory JWKS the workflow tests use and the Table Storage store on Azurite.
import { MemoryJwks } from "../../lib/orchestration/memory";
import { JwksStore } from "../../lib/stores/jwksStore";
import { freshTable } from "../support/tables";
import { jwksContract } from "./jwksContract";

jwksContract("memory", "MemoryJwks", async () => ({ jwks: new MemoryJwks() }));

jwksContract("real", "JwksStore (Table Storage on Azurite)", async () => ({ jwks: new JwksStore(await freshTable("jwks")) }));
