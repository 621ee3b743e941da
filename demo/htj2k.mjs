// Encodes greyscale PGM frames as HTJ2K Lossless RPCL with TLM markers, the codestream
// that DICOM's 1.2.840.10008.1.2.4.202 describes (PS3.5 §8.2.15): reversible, RPCL
// progression, a TLM marker segment in the main header and one tile-part per resolution
// level, so that a client that reads the first bytes of a frame finds in the TLM segment
// where each lower-resolution image ends and can decode it from that prefix alone.
//
// The encoder is OpenJPH 0.31 (the reference HTJ2K implementation) as
// @cornerstonejs/codec-openjph builds it to WebAssembly; make_demo.py calls this script
// (npm ci in this folder installs it, pinned by package-lock.json).
//
// Usage: node demo/htj2k.mjs IN.pgm OUT.j2c [IN.pgm OUT.j2c ...]

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const openjph = await require("@cornerstonejs/codec-openjph")();

const RPCL = 2; // OpenJPH's progression order numbering: LRCP, RLCP, RPCL, PCRL, CPRL.

/** Reads a binary PGM (P5; samples big-endian when maxval > 255, as Netpbm defines). */
function readPgm(bytes) {
  const fields = [];
  let at = 0;
  while (fields.length < 4) {
    while (/\s/.test(String.fromCharCode(bytes[at]))) at++;
    if (bytes[at] === 0x23) {
      while (bytes[at] !== 0x0a) at++;
      continue;
    }
    const start = at;
    while (at < bytes.length && !/\s/.test(String.fromCharCode(bytes[at]))) at++;
    fields.push(Buffer.from(bytes.subarray(start, at)).toString("latin1"));
  }
  if (fields[0] !== "P5") throw new Error("not a binary PGM");
  const [width, height, maxval] = fields.slice(1).map(Number);
  const data = bytes.subarray(at + 1);
  const samples = new Uint16Array(width * height);
  for (let i = 0; i < samples.length; i++) {
    samples[i] = maxval > 255 ? (data[2 * i] << 8) | data[2 * i + 1] : data[i];
  }
  return { width, height, bits: 32 - Math.clz32(maxval), samples };
}

function encode({ width, height, bits, samples }) {
  const encoder = new openjph.HTJ2KEncoder();
  const input = encoder.getDecodedBuffer({
    width,
    height,
    bitsPerSample: bits,
    componentCount: 1,
    isSigned: false,
    isUsingColorTransform: false,
  });
  if (bits > 8) {
    new Uint16Array(input.buffer, input.byteOffset, samples.length).set(samples);
  } else {
    input.set(samples);
  }
  encoder.setQuality(true, 0);
  encoder.setProgressionOrder(RPCL);
  encoder.setDecompositions(Math.min(5, Math.floor(Math.log2(Math.min(width, height)))));
  encoder.setBlockDimensions({ width: 64, height: 64 });
  encoder.setTLMMarker(true);
  encoder.setTilePartDivisionsAtResolutions(true);
  encoder.encode();
  const out = Buffer.from(encoder.getEncodedBuffer());
  encoder.delete();
  return out;
}

const args = process.argv.slice(2);
if (args.length === 0 || args.length % 2 !== 0) {
  console.error("usage: node htj2k.mjs IN.pgm OUT.j2c [IN.pgm OUT.j2c ...]");
  process.exit(2);
}
for (let i = 0; i < args.length; i += 2) {
  writeFileSync(args[i + 1], encode(readPgm(readFileSync(args[i]))));
}
