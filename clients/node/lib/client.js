'use strict';
// A small Node.js client of the bhytgate gateway: mutual TLS, the two-step verification
// (BeginVerification -> Verify), the attestation keys, and an offline ES256 check of an
// attestation with node:crypto alone. The contract is proto/bhytgate/v1/gateway.proto, loaded
// at run time; its comments say what each field means and docs/integration.md how to use them.

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { statusDetails } = require('./status');

const PROTO_ROOT = process.env.BHYTGATE_PROTO_ROOT || path.resolve(__dirname, '..', '..', '..', 'proto');
const PROTO_FILE = 'bhytgate/v1/gateway.proto';
const VERIFICATION = 'bhytgate.v1.VerificationService';
const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
// The name the dev server certificate carries (DNS SAN "localhost", IP SANs 127.0.0.1 and ::1).
const DEV_SERVER_NAME = 'localhost';

let cachedPackage = null;

/** The loaded bhytgate.v1 package (snake_case fields, enums as names, int64 as Number, bytes as Buffer). */
function loadPackage(protoRoot = PROTO_ROOT) {
  if (cachedPackage && protoRoot === PROTO_ROOT) return cachedPackage;
  const definition = protoLoader.loadSync(PROTO_FILE, {
    includeDirs: [protoRoot],
    keepCase: true,
    longs: Number,
    enums: String,
    bytes: Buffer,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition).bhytgate.v1;
  if (protoRoot === PROTO_ROOT) cachedPackage = pkg;
  return pkg;
}

// --- addresses ------------------------------------------------------------------------------

const SCHEME_RE = /^(dns|ipv4|ipv6|unix|unix-abstract|vsock):(?!\d+$)/;
const LABEL_RE = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

function parseHostPort(text) {
  const item = text.trim();
  if (!item) throw new Error('empty address (expected HOST:PORT)');
  let host;
  let port;
  if (item.startsWith('[')) {
    const end = item.indexOf(']:');
    host = end > 0 ? item.slice(1, end) : '';
    port = end > 0 ? item.slice(end + 2) : '';
    if (net.isIP(host) !== 6) throw new Error(`${item}: expected [IPv6]:PORT, e.g. [::1]:50051`);
  } else {
    const colon = item.lastIndexOf(':');
    if (colon <= 0) throw new Error(`${item}: expected HOST:PORT (the port is required)`);
    host = item.slice(0, colon);
    port = item.slice(colon + 1);
    if (host.includes(':')) throw new Error(`${item}: an IPv6 address needs brackets, e.g. [::1]:50051`);
    const name = host.endsWith('.') ? host.slice(0, -1) : host;
    if (!net.isIP(host) && !(name.length > 0 && name.length <= 253 && name.split('.').every((l) => LABEL_RE.test(l)))) {
      throw new Error(`${item}: ${host} is neither an IP address nor a host name`);
    }
  }
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new Error(`${item}: the port must be a number from 1 to 65535`);
  }
  return { host, port: Number(port) };
}

const hostPort = ({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/**
 * `HOST:PORT`, `HOST:PORT,HOST:PORT,...` (IP literals in a list) or a gRPC target URI, to
 * `{target, authority}`: `authority` is the name every replica's certificate is checked against
 * (`serverName`, else the list's common host, else the dev certificate's "localhost"), or null
 * for gRPC's default (the single address's host).
 */
function channelTarget(address, serverName = null) {
  const text = String(address || '').trim();
  if (!text) throw new Error('no gateway address given (expected HOST:PORT[,HOST:PORT...])');
  if (SCHEME_RE.test(text)) return { target: text, authority: serverName || null };
  const entries = text.split(',').map(parseHostPort);
  if (entries.length === 1) return { target: hostPort(entries[0]), authority: serverName || null };
  const named = entries.find((e) => !net.isIP(e.host));
  if (named) {
    throw new Error(`${hostPort(named)}: a list takes IP addresses; for host names give one DNS name (dns:///NAME:PORT)`);
  }
  const hosts = new Set(entries.map((e) => e.host.toLowerCase()));
  const authority = serverName || (hosts.size === 1 ? entries[0].host : DEV_SERVER_NAME);
  const unique = [...new Map(entries.map((e) => [hostPort(e), e])).values()];
  if (unique.every((e) => net.isIP(e.host) === 4)) {
    return { target: `ipv4:${unique.map(hostPort).join(',')}`, authority };
  }
  const mapped = unique.map((e) => (net.isIP(e.host) === 4 ? { host: `::ffff:${e.host}`, port: e.port } : e));
  return { target: `ipv6:${mapped.map(hostPort).join(',')}`, authority };
}

/**
 * Round robin over the replicas and the resend rules of the gateway's contract: a Verify is resent
 * only when shed (RESOURCE_EXHAUSTED: refused before its challenge was consumed), never on
 * UNAVAILABLE (the challenge may be spent: begin again); BeginVerification and
 * GetAttestationKeys change nothing a resend could double and are resent on UNAVAILABLE, and a
 * BeginVerification shed in overload mode (RESOURCE_EXHAUSTED, nothing issued) is resent too.
 */
function serviceConfig({ retryShed = true, loadBalancing = 'round_robin' } = {}) {
  const resend = { maxAttempts: 3, initialBackoff: '0.05s', maxBackoff: '0.5s', backoffMultiplier: 2 };
  const methodConfig = [
    {
      name: [{ service: VERIFICATION, method: 'GetAttestationKeys' }],
      retryPolicy: { ...resend, retryableStatusCodes: ['UNAVAILABLE'] },
    },
    {
      // Also shed in overload mode, before a challenge is issued; one policy per method.
      name: [{ service: VERIFICATION, method: 'BeginVerification' }],
      retryPolicy: {
        ...resend,
        retryableStatusCodes: retryShed ? ['UNAVAILABLE', 'RESOURCE_EXHAUSTED'] : ['UNAVAILABLE'],
      },
    },
  ];
  if (retryShed) {
    methodConfig.push({
      name: [{ service: VERIFICATION, method: 'Verify' }],
      retryPolicy: {
        maxAttempts: 4,
        initialBackoff: '0.1s',
        maxBackoff: '0.5s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['RESOURCE_EXHAUSTED'],
      },
    });
  }
  return {
    loadBalancingConfig: [{ [loadBalancing]: {} }],
    methodConfig,
    retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
  };
}

// --- errors and results ---------------------------------------------------------------------

class GatewayError extends Error {
  /** A refused call: `code` is the gRPC status name, `violations` the BadRequest field errors. */
  constructor(code, message, { violations = [], retryDelayMs = null } = {}) {
    super(`${code}: ${message}`);
    this.name = 'GatewayError';
    this.code = code;
    this.details = message;
    this.violations = violations;
    this.retryDelayMs = retryDelayMs;
  }

  static fromServiceError(error) {
    const code = Object.keys(grpc.status).find((k) => grpc.status[k] === error.code) || 'UNKNOWN';
    return new GatewayError(code, error.details || error.message || '', statusDetails(error.metadata));
  }
}

/** "DECISION_ACCEPTED" -> "ACCEPTED". */
function enumName(value, prefix) {
  const name = String(value);
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

const timestampMs = (ts) => (ts ? Number(ts.seconds || 0) * 1000 + Math.floor(Number(ts.nanos || 0) / 1e6) : null);

function challengeFrom(response) {
  return {
    challengeId: response.challenge_id,
    nonce: response.nonce,
    aaChallenge: response.aa_challenge,
    livenessActions: (response.liveness_actions || []).map((a) => enumName(a, 'LIVENESS_ACTION_')),
    expireTimeMs: timestampMs(response.expire_time),
    terminalKind: enumName(response.terminal_kind, 'TERMINAL_KIND_'),
    requiredAssuranceLevel: enumName(response.required_assurance_level, 'ASSURANCE_LEVEL_'),
  };
}

function resultFrom(response) {
  const level = enumName(response.assurance_level, 'ASSURANCE_LEVEL_');
  const decision = enumName(response.decision, 'DECISION_');
  const present = (field) => response[field] !== undefined && response[field] !== null;
  return {
    verification_id: response.verification_id,
    decision,
    reasons: (response.reasons || []).map((r) => ({ code: enumName(r.code, 'REASON_CODE_'), detail: r.detail })),
    assurance_level: level === 'UNSPECIFIED' ? null : level,
    face_distance: present('face_distance') ? response.face_distance : null,
    face_threshold: present('face_threshold') ? response.face_threshold : null,
    entitlement: decision === 'ACCEPTED' && response.entitlement ? response.entitlement : null,
    attestation: response.attestation || null,
    checks: Object.fromEntries(
      (response.checks || []).map((c) => [enumName(c.check, 'CHECK_'), enumName(c.status, 'CHECK_STATUS_')]),
    ),
    stage_timings_ms: Object.fromEntries((response.stage_timings || []).map((t) => [t.stage, t.millis])),
    verify_time_ms: timestampMs(response.verify_time),
  };
}

// --- the terminal signature -----------------------------------------------------------------

const SIGNING_DOMAIN = Buffer.from('BHYTGATE-LIVENESS-V1\n', 'ascii');

/**
 * The bytes a terminal's device key signs (TerminalSignature in the proto), all integers
 * big-endian, unsigned: domain || u16 len(nonce) || nonce || u16 n || n x (SHA-256(image) || u64 ts).
 * `frames`: [{image: Buffer, timestampMs: number}] in request order.
 */
function signingPayload(nonce, frames) {
  if (nonce.length > 0xffff || frames.length > 0xffff) throw new Error('nonce or frame list too long');
  const head = Buffer.alloc(2);
  head.writeUInt16BE(nonce.length);
  const count = Buffer.alloc(2);
  count.writeUInt16BE(frames.length);
  const parts = [SIGNING_DOMAIN, head, nonce, count];
  for (const frame of frames) {
    const ts = BigInt(frame.timestampMs);
    if (ts < 0n || ts >= 1n << 64n) throw new Error('each frame needs a non-negative timestamp');
    const stamp = Buffer.alloc(8);
    stamp.writeBigUInt64BE(ts);
    parts.push(crypto.createHash('sha256').update(frame.image).digest(), stamp);
  }
  return Buffer.concat(parts);
}

// --- attestations ---------------------------------------------------------------------------

const ATTESTATION_TYP = 'bhytgate-attestation+jwt';
const REQUIRED_CLAIMS = ['iss', 'iat', 'exp', 'jti', 'facility', 'terminal', 'checks', 'assurance_level', 'ma_the', 'decision'];
const B64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The one canonical base64url spelling (alphabet, no padding, unused bits zero): Buffer.from reads
 * a last character with unused bits set as the same bytes, and an attestation's id is the SHA-256
 * of its text, so another spelling would be another attestation.
 */
function isCanonicalB64url(segment) {
  return B64URL.test(segment) && Buffer.from(segment, 'base64url').toString('base64url') === segment;
}

function b64uJson(segment) {
  if (!isCanonicalB64url(segment)) throw new Error('not canonical base64url');
  const value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
  return value;
}

/** RFC 7638 thumbprint of an EC JWK: SHA-256 over {"crv","kty","x","y"} in that order, no spaces. */
function jwkThumbprint(jwk) {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return crypto.createHash('sha256').update(canonical).digest('base64url');
}

/**
 * Check an attestation offline against a JWKS (GetAttestationKeys' jwks_json), as the gateway's
 * own verifier does: exactly ES256 over EC P-256, typ bhytgate-attestation+jwt, the kid found once
 * in the JWKS and equal to its key's RFC 7638 thumbprint, the signature (JOSE r || s), the required
 * claims, iat/exp against `now` with `leewayS`, and the issuer when given.
 * Returns {ok, status, claims, detail}; status is one of ok, malformed, bad_jwks,
 * unsupported_algorithm, unknown_key, bad_signature, missing_claim, not_yet_valid, expired,
 * wrong_issuer.
 */
function verifyAttestation(token, jwksJson, { now = new Date(), issuer = null, leewayS = 60 } = {}) {
  const fail = (status, detail = '', claims = null) => ({ ok: false, status, claims, detail });
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3 || !parts.every(isCanonicalB64url)) {
    return fail('malformed', 'not a compact JWS (three canonical base64url segments)');
  }
  let header;
  let payload;
  try {
    header = b64uJson(parts[0]);
  } catch (error) {
    return fail('malformed', `header: ${error.message}`);
  }
  if (header.alg !== 'ES256') return fail('unsupported_algorithm', `alg ${JSON.stringify(header.alg)}`);
  if (header.typ !== ATTESTATION_TYP) return fail('malformed', 'wrong typ header');
  let keys;
  try {
    keys = JSON.parse(jwksJson).keys;
    if (!Array.isArray(keys)) throw new Error('keys is not a list');
  } catch (error) {
    return fail('bad_jwks', error.message);
  }
  const kid = header.kid;
  const candidates = keys.filter((k) => k && typeof k === 'object' && k.kid === kid);
  if (typeof kid !== 'string' || candidates.length !== 1) return fail('unknown_key', 'kid not in JWKS exactly once');
  const jwk = candidates[0];
  let publicKey;
  try {
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new Error('not an EC P-256 key');
    if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string' || !B64URL.test(jwk.x) || !B64URL.test(jwk.y)) {
      throw new Error('bad coordinates');
    }
    if (Buffer.from(jwk.x, 'base64url').length !== 32 || Buffer.from(jwk.y, 'base64url').length !== 32) {
      throw new Error('bad coordinate length');
    }
    // createPublicKey refuses a point that is not on the curve.
    publicKey = crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, format: 'jwk' });
    if (jwkThumbprint(jwk) !== kid) throw new Error("kid is not the key's thumbprint");
  } catch (error) {
    return fail('bad_jwks', error.message);
  }
  const signature = Buffer.from(parts[2], 'base64url');
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
  const valid =
    signature.length === 64 &&
    crypto.verify('sha256', signed, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  if (!valid) return fail('bad_signature');
  try {
    payload = b64uJson(parts[1]);
  } catch (error) {
    return fail('malformed', `payload: ${error.message}`);
  }
  const missing = REQUIRED_CLAIMS.filter((c) => !(c in payload));
  if (missing.length) return fail('missing_claim', missing.join(', '));
  if (!Number.isInteger(payload.iat) || !Number.isInteger(payload.exp) || !Array.isArray(payload.checks)) {
    return fail('malformed', 'iat/exp must be integers and checks a list');
  }
  const nowS = Math.floor(now.getTime() / 1000);
  if (payload.iat > nowS + leewayS) return fail('not_yet_valid', '', payload);
  if (payload.exp <= nowS - leewayS) return fail('expired', '', payload);
  if (issuer !== null && payload.iss !== issuer) return fail('wrong_issuer', '', payload);
  return { ok: true, status: 'ok', claims: payload, detail: '' };
}

// --- the client -----------------------------------------------------------------------------

class GatewayClient {
  constructor(channelClient, { terminalId, timeoutMs = 30000 }) {
    this.verification = channelClient;
    this.terminalId = terminalId;
    this.timeoutMs = timeoutMs;
  }

  /**
   * A client over mutual TLS (or plaintext, for a gateway started with --plaintext only).
   * `address`: HOST:PORT, a comma-separated list of IP:PORT (round robin), or a gRPC target URI.
   * `ca`, `cert`, `key`: PEM file paths (the gateway's CA, the terminal's certificate and key).
   * `serverName`: the name the server certificate must carry when it is not the address's host.
   */
  static connect({
    address,
    terminalId,
    ca,
    cert,
    key,
    serverName = null,
    plaintext = false,
    timeoutMs = 30000,
    retryShed = true,
    loadBalancing = 'round_robin',
    protoRoot = PROTO_ROOT,
  }) {
    const pkg = loadPackage(protoRoot);
    const { target, authority } = channelTarget(address, serverName);
    const options = {
      'grpc.max_send_message_length': MAX_REQUEST_BYTES,
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
      'grpc.enable_retries': 1,
      'grpc.service_config': JSON.stringify(serviceConfig({ retryShed, loadBalancing })),
      'grpc.service_config_disable_resolution': 1,
      'grpc.per_rpc_retry_buffer_size': MAX_REQUEST_BYTES,
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 10000,
    };
    if (authority) options['grpc.default_authority'] = authority;
    let credentials;
    if (plaintext) {
      credentials = grpc.credentials.createInsecure();
    } else {
      if (!ca || !cert || !key) throw new Error('mutual TLS needs ca, cert and key (or plaintext: true)');
      credentials = grpc.credentials.createSsl(fs.readFileSync(ca), fs.readFileSync(key), fs.readFileSync(cert));
      if (authority) options['grpc.ssl_target_name_override'] = authority;
    }
    const client = new pkg.VerificationService(target, credentials, options);
    return new GatewayClient(client, { terminalId, timeoutMs });
  }

  close() {
    this.verification.close();
  }

  _call(method, request) {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + this.timeoutMs);
      this.verification[method](request, { deadline }, (error, response) => {
        if (error) reject(GatewayError.fromServiceError(error));
        else resolve(response);
      });
    });
  }

  /** BeginVerification: a single-use challenge bound to this terminal. */
  async begin({ terminalKind = 'desk', operator = null, facilityCode = '', purpose = 'CHECK_IN' } = {}) {
    const request = {
      terminal_kind: `TERMINAL_KIND_${terminalKind.toUpperCase()}`,
      terminal_id: this.terminalId,
      purpose: `PURPOSE_${purpose}`,
      facility_code: facilityCode,
    };
    if (operator) request.operator = { full_name: operator.fullName, cccd_number: operator.cccdNumber };
    return challengeFrom(await this._call('BeginVerification', request));
  }

  /**
   * Verify against a challenge from `begin`. `chip`: ChipData fields (ef_sod, dg1, ... as Buffers);
   * `aaSignatures`: the chip's four answers in chunk order; `frames`: [{image, timestampMs}];
   * `signFrames(payload) -> Buffer` and `keyId` where the terminal has a registered device key.
   */
  async verify(challenge, { chip, aaSignatures = null, frames, operator = null, signFrames = null, keyId = '' }) {
    const request = {
      challenge_id: challenge.challengeId,
      terminal_id: this.terminalId,
      chip,
      frames: frames.map((f) => ({ image: f.image, timestamp_ms: f.timestampMs })),
    };
    if (aaSignatures) request.active_auth = { signatures: aaSignatures };
    if (operator) request.operator = { full_name: operator.fullName, cccd_number: operator.cccdNumber };
    if (signFrames) {
      request.terminal_signature = { signature: signFrames(signingPayload(challenge.nonce, frames)), key_id: keyId };
    }
    return resultFrom(await this._call('Verify', request));
  }

  /** GetAttestationKeys: the JWKS JSON text that verifies attestations. */
  async attestationKeys() {
    return (await this._call('GetAttestationKeys', {})).jwks_json;
  }

  /** Check an attestation against this gateway's current JWKS (see the module's verifyAttestation). */
  async verifyAttestation(token, options = {}) {
    return verifyAttestation(token, await this.attestationKeys(), options);
  }
}

module.exports = {
  GatewayClient,
  GatewayError,
  channelTarget,
  serviceConfig,
  signingPayload,
  verifyAttestation,
  jwkThumbprint,
  loadPackage,
  PROTO_ROOT,
};
