'use strict';
// Reading a card dump, and the card lab's simulated chip answering Active Authentication.
//
// A real terminal sends the gateway's 32-byte aa_challenge to the chip as four INTERNAL
// AUTHENTICATE commands of 8 bytes each (bytes 0-7, 8-15, 16-23, 24-31) and relays the four
// answers, in that order, as VerifyRequest.active_auth.signatures. The chip signs; the terminal
// only relays. The card lab's dumps have no chip, so this module plays it, as the Python card
// lab's SimulatedChip does (clients/bhytgate_clients/cardlab/chip.py): the folder keeps the
// lab-only private key behind DG15 in chip_aa_key.pem (PKCS#8 PEM) and its settings in card.json
// ("aa": {"hash", "rsa_min_s"}; "replay": a recorded answer for the replay attack).
//
//   RSA chips: ISO/IEC 9796-2 digital signature scheme 1 (partial message recovery):
//     F = 0x6A || M1 || H(M1 || M2) || trailer,  s = F^d mod n,  sent as min(s, n - s)
//     M1: random, |n| - 1 - |H| - |trailer| bytes; M2: the 8-byte command data;
//     trailer 0xBC for SHA-1, else the ISO/IEC 10118-3 hash id then 0xCC (SHA-256: 0x34 0xCC).
//   EC chips: ECDSA over the 8 bytes with the hash named in DG14, as plain r || s
//     (BSI TR-03111), each as wide as the curve order.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const CHUNK = 8;
const AA_KEY_FILE = 'chip_aa_key.pem';
const CARD_FILE = 'card.json';

// The elementary files a VerifyRequest carries, by canonical name -> ChipData field.
const CHIP_FIELDS = {
  'EF.SOD': 'ef_sod',
  DG1: 'dg1',
  DG2: 'dg2',
  DG13: 'dg13',
  DG14: 'dg14',
  DG15: 'dg15',
};

/**
 * The canonical name of a dump file as card readers write them ("EF.SOD", "EF_SOD.bin",
 * "dg2.der", "DataGroup13"...), or null for anything else (lab metadata, keys). The same rule as
 * the gateway's bhytgate.chip.dump.canonical_name.
 */
function canonicalName(filename) {
  let stem = filename.trim().toLowerCase();
  for (const suffix of ['.bin', '.der']) {
    if (stem.endsWith(suffix)) stem = stem.slice(0, -suffix.length);
  }
  const match = /^(?:ef[._])?(?:(sod)|(com)|(?:dg|datagroup)([0-9]{1,2}))$/.exec(stem);
  if (!match) return null;
  if (match[1]) return 'EF.SOD';
  if (match[2]) return 'EF.COM';
  const number = Number(match[3]);
  return number >= 1 && number <= 16 ? `DG${number}` : null;
}

/** The chip files of a dump folder as a ChipData object (Buffers by proto field name). */
function readChipData(cardDir) {
  const chip = {};
  const seen = new Set();
  for (const entry of fs.readdirSync(cardDir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const name = canonicalName(entry.name);
    if (name === null || !entry.isFile()) continue;
    if (seen.has(name)) throw new Error(`${cardDir}: ${name} appears under two names`);
    seen.add(name);
    if (CHIP_FIELDS[name]) chip[CHIP_FIELDS[name]] = fs.readFileSync(path.join(cardDir, entry.name));
  }
  if (!chip.ef_sod) throw new Error(`${cardDir}: the card dump has no EF.SOD`);
  return chip;
}

// ISO/IEC 9796-2 trailers: 0xBC means SHA-1 implicitly; otherwise hash id (ISO/IEC 10118-3), 0xCC.
const TRAILERS = {
  sha1: Buffer.from([0xbc]),
  sha256: Buffer.from([0x34, 0xcc]),
  sha512: Buffer.from([0x35, 0xcc]),
  sha384: Buffer.from([0x36, 0xcc]),
  sha224: Buffer.from([0x38, 0xcc]),
};

const toBigInt = (buf) => (buf.length ? BigInt(`0x${buf.toString('hex')}`) : 0n);
const toBytes = (value, size) => Buffer.from(value.toString(16).padStart(size * 2, '0'), 'hex');

/** ISO/IEC 9796-2 scheme 1 over `message` with an RSA private key (see the header). */
function iso9796_2Sign(key, message, hashName = 'sha1', { minS = true } = {}) {
  const trailer = TRAILERS[hashName];
  if (!trailer) throw new Error(`no ISO/IEC 9796-2 trailer for ${hashName}`);
  const nBytes = Buffer.from(key.export({ format: 'jwk' }).n, 'base64url');
  const n = toBigInt(nBytes);
  const bits = n.toString(2).length;
  if (bits % 8) throw new Error('ISO/IEC 9796-2 signing here needs a modulus of whole bytes');
  const size = bits / 8;
  const hashLen = crypto.createHash(hashName).digest().length;
  const m1 = crypto.randomBytes(size - 1 - hashLen - trailer.length);
  const digest = crypto.createHash(hashName).update(m1).update(message).digest();
  const representative = Buffer.concat([Buffer.from([0x6a]), m1, digest, trailer]);
  // The raw RSA private-key operation F^d mod n (F < n: its top byte 0x6A is below n's, >= 0x80).
  let s = toBigInt(crypto.privateEncrypt({ key, padding: crypto.constants.RSA_NO_PADDING }, representative));
  if (minS && n - s < s) s = n - s;
  return toBytes(s, size);
}

/** ECDSA as r || s (IEEE P1363), each as wide as the curve order. */
function ecdsaPlainSign(key, message, hashName = 'sha256') {
  return crypto.sign(hashName, message, { key, dsaEncoding: 'ieee-p1363' });
}

/** The challenge as consecutive 8-byte INTERNAL AUTHENTICATE command data. */
function chunks(challenge) {
  if (!challenge.length || challenge.length % CHUNK) {
    throw new Error(`the challenge must be a non-empty multiple of ${CHUNK} bytes`);
  }
  const out = [];
  for (let i = 0; i < challenge.length; i += CHUNK) out.push(challenge.subarray(i, i + CHUNK));
  return out;
}

/** True when the folder holds the card lab's simulated-chip key (a plain reader dump does not). */
function hasSimulatedChip(cardDir) {
  return fs.existsSync(path.join(cardDir, AA_KEY_FILE));
}

/**
 * The card lab's chip for a dump folder: `{kind, answerChallenge(challenge) -> Buffer[]}`, one
 * signature per 8-byte chunk. A lab card recorded for the replay attack returns its recorded
 * signatures whatever it is asked, as a replaying emulator would.
 */
function simulatedChip(cardDir) {
  const key = crypto.createPrivateKey(fs.readFileSync(path.join(cardDir, AA_KEY_FILE)));
  let meta = {};
  try {
    meta = JSON.parse(fs.readFileSync(path.join(cardDir, CARD_FILE), 'utf8'));
  } catch {
    meta = {};
  }
  const aa = (meta && meta.aa) || {};
  const kind = key.asymmetricKeyType; // 'rsa' | 'ec'
  if (kind !== 'rsa' && kind !== 'ec') throw new Error(`${AA_KEY_FILE}: not an RSA or EC key`);
  const hashName = aa.hash || (kind === 'rsa' ? 'sha1' : 'sha256');
  const minS = aa.rsa_min_s === undefined ? true : Boolean(aa.rsa_min_s);
  const replay = meta && meta.replay ? meta.replay.signatures.map((s) => Buffer.from(s, 'hex')) : null;

  const internalAuthenticate = (data, call) => {
    if (data.length !== CHUNK) throw new Error(`INTERNAL AUTHENTICATE takes ${CHUNK} bytes, got ${data.length}`);
    if (replay) return replay[call % replay.length];
    return kind === 'rsa' ? iso9796_2Sign(key, data, hashName, { minS }) : ecdsaPlainSign(key, data, hashName);
  };
  return {
    kind,
    hash: hashName,
    answerChallenge(challenge) {
      return chunks(Buffer.from(challenge)).map((chunk, i) => internalAuthenticate(chunk, i));
    },
  };
}

module.exports = {
  CHUNK,
  canonicalName,
  readChipData,
  iso9796_2Sign,
  ecdsaPlainSign,
  chunks,
  hasSimulatedChip,
  simulatedChip,
};
