'use strict';
// The gateway's rich error details, read from the `grpc-status-details-bin` trailer without a
// protobuf library: a google.rpc.Status whose `details` are Any messages, of which we read
// google.rpc.BadRequest (INVALID_ARGUMENT: one FieldViolation per bad field) and
// google.rpc.RetryInfo (RESOURCE_EXHAUSTED from the per-terminal rate limit: when to try again).
//
//   Status        { int32 code = 1; string message = 2; repeated Any details = 3; }
//   Any           { string type_url = 1; bytes value = 2; }
//   BadRequest    { repeated FieldViolation field_violations = 1; }
//   FieldViolation{ string field = 1; string description = 2; }
//   RetryInfo     { Duration retry_delay = 1; }
//   Duration      { int64 seconds = 1; int32 nanos = 2; }

const DETAILS_KEY = 'grpc-status-details-bin';
const BAD_REQUEST = 'type.googleapis.com/google.rpc.BadRequest';
const RETRY_INFO = 'type.googleapis.com/google.rpc.RetryInfo';

/** The fields of one protobuf message as [number, value] pairs (varints as BigInt, bytes as Buffer). */
function fields(buf) {
  const out = [];
  let pos = 0;
  const varint = () => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length || shift > 63n) throw new Error('truncated or overlong varint');
      const byte = buf[pos++];
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const number = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      out.push([number, varint()]);
    } else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw new Error('truncated length-delimited field');
      out.push([number, buf.subarray(pos, pos + len)]);
      pos += len;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  if (pos !== buf.length) throw new Error('truncated fixed-width field');
  return out;
}

/**
 * The details of a failed call: `{violations: [{field, description}], retryDelayMs: number|null}`.
 * `metadata` is the grpc-js Metadata of the error (error.metadata); anything unreadable is skipped.
 */
function statusDetails(metadata) {
  const result = { violations: [], retryDelayMs: null };
  const values = metadata && typeof metadata.get === 'function' ? metadata.get(DETAILS_KEY) : [];
  for (const raw of values) {
    if (!Buffer.isBuffer(raw)) continue;
    try {
      for (const [number, any] of fields(raw)) {
        if (number !== 3 || !Buffer.isBuffer(any)) continue;
        let typeUrl = '';
        let value = Buffer.alloc(0);
        for (const [n, v] of fields(any)) {
          if (n === 1 && Buffer.isBuffer(v)) typeUrl = v.toString('utf8');
          if (n === 2 && Buffer.isBuffer(v)) value = v;
        }
        if (typeUrl === BAD_REQUEST) {
          for (const [n, violation] of fields(value)) {
            if (n !== 1 || !Buffer.isBuffer(violation)) continue;
            const entry = { field: '', description: '' };
            for (const [m, text] of fields(violation)) {
              if (m === 1 && Buffer.isBuffer(text)) entry.field = text.toString('utf8');
              if (m === 2 && Buffer.isBuffer(text)) entry.description = text.toString('utf8');
            }
            result.violations.push(entry);
          }
        } else if (typeUrl === RETRY_INFO) {
          for (const [n, duration] of fields(value)) {
            if (n !== 1 || !Buffer.isBuffer(duration)) continue;
            let seconds = 0n;
            let nanos = 0n;
            for (const [m, v] of fields(duration)) {
              if (m === 1 && typeof v === 'bigint') seconds = v;
              if (m === 2 && typeof v === 'bigint') nanos = v;
            }
            result.retryDelayMs = Number(seconds) * 1000 + Math.ceil(Number(nanos) / 1e6);
          }
        }
      }
    } catch {
      // a details trailer we cannot read leaves the status code and message, which suffice
    }
  }
  return result;
}

module.exports = { statusDetails, DETAILS_KEY };
