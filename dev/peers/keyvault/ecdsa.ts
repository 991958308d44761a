// ECDSA over a caller-supplied digest. Key Vault's sign/verify take the digest, not the message, and
// node:crypto can only sign messages it hashes itself, so the curve arithmetic is done here with
// BigInt (affine coordinates; these operations are not on any hot path).
import { randomBytes } from "node:crypto";

interface Curve {
  p: bigint;
  a: bigint;
  n: bigint;
  gx: bigint;
  gy: bigint;
  bytes: number;
}

const h = (s: string): bigint => BigInt(`0x${s}`);

export const CURVES: Record<"P-256" | "P-384", Curve> = {
  "P-256": {
    p: h("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"),
    a: h("ffffffff00000001000000000000000000000000fffffffffffffffffffffffc"),
    n: h("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
    gx: h("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"),
    gy: h("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"),
    bytes: 32,
  },
  "P-384": {
    p: h("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff"),
    a: h("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffc"),
    n: h("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973"),
    gx: h("aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7"),
    gy: h("3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f"),
    bytes: 48,
  },
};

type Point = { x: bigint; y: bigint } | null;

const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;

function inv(a: bigint, m: bigint): bigint {
  let [r0, r1] = [mod(a, m), m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}

function add(c: Curve, P: Point, Q: Point): Point {
  if (!P) return Q;
  if (!Q) return P;
  let l: bigint;
  if (P.x === Q.x) {
    if (mod(P.y + Q.y, c.p) === 0n) return null;
    l = mod((3n * P.x * P.x + c.a) * inv(2n * P.y, c.p), c.p);
  } else {
    l = mod((Q.y - P.y) * inv(Q.x - P.x, c.p), c.p);
  }
  const x = mod(l * l - P.x - Q.x, c.p);
  return { x, y: mod(l * (P.x - x) - P.y, c.p) };
}

function mul(c: Curve, k: bigint, P: Point): Point {
  let R: Point = null;
  let A = P;
  while (k > 0n) {
    if (k & 1n) R = add(c, R, A);
    A = add(c, A, A);
    k >>= 1n;
  }
  return R;
}

const toBig = (b: Buffer): bigint => (b.length ? BigInt(`0x${b.toString("hex")}`) : 0n);
const toBuf = (v: bigint, len: number): Buffer => Buffer.from(v.toString(16).padStart(len * 2, "0"), "hex");

/** The digest as an integer, truncated to the order's bit length (FIPS 186-4). */
function digestInt(c: Curve, digest: Buffer): bigint {
  const nBits = c.n.toString(2).length;
  let e = toBig(digest);
  const extra = digest.length * 8 - nBits;
  if (extra > 0) e >>= BigInt(extra);
  return e;
}

/** Returns r||s (IEEE P1363, as JWS and Key Vault use). */
export function ecdsaSign(crv: keyof typeof CURVES, d: Buffer, digest: Buffer): Buffer {
  const c = CURVES[crv];
  const priv = toBig(d);
  const e = digestInt(c, digest);
  for (;;) {
    const k = mod(toBig(randomBytes(c.bytes + 8)), c.n - 1n) + 1n;
    const R = mul(c, k, { x: c.gx, y: c.gy });
    if (!R) continue;
    const r = mod(R.x, c.n);
    if (r === 0n) continue;
    const s = mod(inv(k, c.n) * (e + r * priv), c.n);
    if (s === 0n) continue;
    return Buffer.concat([toBuf(r, c.bytes), toBuf(s, c.bytes)]);
  }
}

export function ecdsaVerify(crv: keyof typeof CURVES, x: Buffer, y: Buffer, digest: Buffer, sig: Buffer): boolean {
  const c = CURVES[crv];
  if (sig.length !== 2 * c.bytes) return false;
  const r = toBig(sig.subarray(0, c.bytes));
  const s = toBig(sig.subarray(c.bytes));
  if (r <= 0n || r >= c.n || s <= 0n || s >= c.n) return false;
  const w = inv(s, c.n);
  const e = digestInt(c, digest);
  const R = add(c, mul(c, mod(e * w, c.n), { x: c.gx, y: c.gy }), mul(c, mod(r * w, c.n), { x: toBig(x), y: toBig(y) }));
  return R !== null && mod(R.x, c.n) === r;
}
