#!/usr/bin/env node
'use strict';
// A hospital desk's check-in against a bhytgate gateway, from Node.js:
//
//   node checkin.js --home DIR --card CARD_DIR --frame PHOTO [--terminal desk-01]
//                   [--address HOST:PORT[,HOST:PORT...]] [--server-name NAME] [--json]
//
// BeginVerification (desk, under the named receptionist) -> the chip's Active Authentication
// answer (the card lab's simulated chip plays the chip) -> Verify with one frame (the photo's bytes
// as read, captured "now") -> the decision, then the attestation checked against
// GetAttestationKeys with node:crypto. Exit status: 0 accepted, 1 rejected or review, 2 error.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { GatewayClient, GatewayError, verifyAttestation } = require('./lib/client');
const { hasSimulatedChip, readChipData, simulatedChip } = require('./lib/chip');

// The demo receptionist (as the Python `bhytgate checkin` uses): the card-check service's
// hoTenCb / cccdCb, required for desk lookups.
const DEMO_OPERATOR = { fullName: 'Lê Thu Hà', cccdNumber: '001185000123' };

const USAGE = `usage: node checkin.js --home DIR --card CARD_DIR --frame PHOTO [options]

  --home DIR            the gateway's data folder (gateway.json, pki/)
  --card CARD_DIR       card dump folder (EF.SOD, DG1, DG2, DG13, DG14, DG15)
  --frame PHOTO         the live capture: one JPEG, PNG or JPEG 2000 file, sent as read
  --terminal ID         dev terminal (certificate <home>/pki/terminals/ID.pem) [desk-01]
  --address A[,B...]    gateway address(es) (default: gateway.json)
  --server-name NAME    the name the server certificate carries, when not the address's host
  --operator-name TEXT  receptionist's name [${DEMO_OPERATOR.fullName}]
  --operator-cccd N     receptionist's 12-digit CCCD number [${DEMO_OPERATOR.cccdNumber}]
  --no-aa               do not send the chip's Active Authentication answer
  --timeout SECONDS     deadline of each call [60]
  --json                print the result as JSON

exit status: 0 accepted, 1 rejected or review (or accepted with an attestation that does not
verify), 2 unusable input or a refused call`;

class UsageError extends Error {}

// grpc-js sets the TLS server name to the address's host even when it is an IP literal, which Node
// flags once per process (DEP0123; grpc/grpc-node#1919, open). The certificate is still checked
// against that IP (the dev server certificate carries 127.0.0.1 and ::1): the warning is noise here.
const emitWarning = process.emitWarning;
process.emitWarning = function filtered(warning, ...rest) {
  const code = typeof rest[0] === 'object' && rest[0] !== null ? rest[0].code : rest[1];
  if (code === 'DEP0123') return undefined;
  return emitWarning.call(process, warning, ...rest);
};

function options(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        home: { type: 'string' },
        card: { type: 'string' },
        frame: { type: 'string' },
        terminal: { type: 'string', default: 'desk-01' },
        address: { type: 'string' },
        'server-name': { type: 'string' },
        'operator-name': { type: 'string', default: DEMO_OPERATOR.fullName },
        'operator-cccd': { type: 'string', default: DEMO_OPERATOR.cccdNumber },
        'no-aa': { type: 'boolean', default: false },
        timeout: { type: 'string', default: '60' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(error.message);
  }
  if (parsed.help) return parsed;
  for (const required of ['home', 'card', 'frame']) {
    if (!parsed[required]) throw new UsageError(`--${required} is required`);
  }
  const timeout = Number(parsed.timeout);
  if (!(timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  parsed.timeoutMs = Math.round(timeout * 1000);
  return parsed;
}

/** gateway.json's address ("addresses", a list, for a cluster; else "address") and plaintext flag. */
function gatewayInfo(home) {
  const file = path.join(home, 'gateway.json');
  let info;
  try {
    info = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return null;
    throw new Error(`${file}: ${error.message}`);
  }
  if (info === null || typeof info !== 'object') throw new Error(`${file} is not a JSON object`);
  return info;
}

/** The terminal kind and id the certificate's `urn:bhytgate:terminal:` SAN URI names. */
function certificateIdentity(certPem) {
  const cert = new crypto.X509Certificate(certPem);
  const uris = (cert.subjectAltName || '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:urn:bhytgate:terminal:'))
    .map((s) => s.slice('URI:'.length));
  if (uris.length !== 1) return null;
  const url = new URL(uris[0].replace('urn:bhytgate:terminal:', 'urn://terminal/'));
  return { terminalId: decodeURIComponent(url.pathname.slice(1)), kind: url.searchParams.get('kind') };
}

function printHuman(out) {
  const line = (text = '') => process.stdout.write(`${text}\n`);
  line(`${out.decision}  verification ${out.verification_id}`);
  if (out.assurance_level) line(`assurance level: ${out.assurance_level}`);
  if (out.face_distance !== null && out.face_threshold !== null) {
    line(`face distance ${out.face_distance.toFixed(3)} (threshold ${out.face_threshold.toFixed(3)})`);
  }
  for (const r of out.reasons) line(`  ${r.code}: ${r.detail}`);
  if (out.entitlement) {
    const e = out.entitlement;
    line('BHYT entitlement:');
    for (const [label, key] of [
      ['Mã thẻ', 'ma_the'],
      ['Họ tên', 'ho_ten'],
      ['Ngày sinh', 'ngay_sinh'],
      ['Mức hưởng', 'muc_huong'],
      ['Nơi ĐKBĐ', 'ma_dkbd'],
      ['Giá trị từ', 'gt_the_tu'],
      ['Giá trị đến', 'gt_the_den'],
      ['maKetQua', 'ma_ket_qua'],
    ]) {
      line(`  ${label.padEnd(12)} ${e[key]}`);
    }
  }
  if (out.attestation) {
    line(`attestation: ${out.attestation_verified ? 'verified' : `NOT verified (${out.attestation_status})`} against GetAttestationKeys`);
  }
  line(`active authentication: ${out.active_auth}`);
}

async function main(argv) {
  const opts = options(argv);
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const home = path.resolve(opts.home);
  const info = gatewayInfo(home);
  let address = opts.address;
  if (!address) {
    if (!info) throw new UsageError(`${path.join(home, 'gateway.json')} is missing: start the gateway or give --address`);
    address = Array.isArray(info.addresses) && info.addresses.length ? info.addresses.join(',') : String(info.address);
  }
  const pki = path.join(home, 'pki');
  const ca = path.join(pki, 'ca.pem');
  const cert = path.join(pki, 'terminals', `${opts.terminal}.pem`);
  const key = path.join(pki, 'terminals', `${opts.terminal}.key`);
  const plaintext = Boolean(info && info.plaintext);
  if (!plaintext) {
    if (!fs.existsSync(cert)) throw new UsageError(`no dev certificate for terminal ${opts.terminal} (${cert})`);
    const identity = certificateIdentity(fs.readFileSync(cert));
    if (identity && identity.kind !== 'desk') {
      throw new UsageError(`terminal ${opts.terminal} is a ${identity.kind}: this client implements the desk flow only`);
    }
  }
  const chip = readChipData(opts.card);
  const image = fs.readFileSync(opts.frame);
  const operator = { fullName: opts['operator-name'], cccdNumber: opts['operator-cccd'] };
  const chipAnswerer = !opts['no-aa'] && hasSimulatedChip(opts.card) ? simulatedChip(opts.card) : null;

  const client = GatewayClient.connect({
    address,
    terminalId: opts.terminal,
    ca,
    cert,
    key,
    plaintext,
    serverName: opts['server-name'] || null,
    timeoutMs: opts.timeoutMs,
  });
  try {
    const challenge = await client.begin({ terminalKind: 'desk', operator });
    if (challenge.livenessActions.length) {
      throw new UsageError(`the gateway asks this terminal for liveness actions (${challenge.livenessActions.join(', ')}): desk flow only`);
    }
    // The terminal relays the challenge to the chip: four 8-byte INTERNAL AUTHENTICATE commands.
    const aaSignatures = chipAnswerer ? chipAnswerer.answerChallenge(challenge.aaChallenge) : null;
    // A desk sends one frame, captured after the challenge was issued.
    const frames = [{ image, timestampMs: Date.now() }];
    const result = await client.verify(challenge, { chip, aaSignatures, frames, operator });
    let check = null;
    if (result.attestation) {
      check = verifyAttestation(result.attestation, await client.attestationKeys());
    }
    const out = {
      ...result,
      active_auth: chipAnswerer ? `answered by the card lab's simulated chip (${chipAnswerer.kind}, ${chipAnswerer.hash})` : 'not sent',
      attestation_verified: check ? check.ok : false,
      attestation_status: check ? check.status : null,
      attestation_claims: check ? check.claims : null,
    };
    if (opts.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    else printHuman(out);
    return result.decision === 'ACCEPTED' && (!result.attestation || out.attestation_verified) ? 0 : 1;
  } finally {
    client.close();
  }
}

// Output piped into a reader that stops early (`| head`) is not an error of the check-in.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode === undefined ? 0 : process.exitCode);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`error: ${error.message}\n`);
    if (error instanceof GatewayError) {
      for (const v of error.violations) process.stderr.write(`  ${v.field}: ${v.description}\n`);
      if (error.retryDelayMs !== null) process.stderr.write(`  retry after ${error.retryDelayMs} ms\n`);
    }
    if (error instanceof UsageError) process.stderr.write(`\n${USAGE}\n`);
    process.exitCode = 2;
  },
);
