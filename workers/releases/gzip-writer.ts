// Writes one gzip JSONL object into R2 while it is being produced, so a release file of any
// size costs a bounded amount of memory (about one part plus what the compressor holds). The
// compressed bytes go to R2 through an ObjectSink (parts, multipart upload, sha256).
//
// The file is one gzip member whose DEFLATE stream is a run of independently compressed pieces:
// lines written here, and pieces compressed elsewhere (a shard's segment: segment.ts). Each piece
// ends with a sync flush (an empty stored block: byte-aligned, not final) and refers back only
// into itself, so pieces concatenate into one valid stream; the file ends with an empty final
// block and the trailer, whose CRC-32 is combined from the pieces' (crc32.ts). So a reader sees
// plain single-member gzip (the web's DecompressionStream included, which stops at a first
// member), and a compile copies a segment's bytes without decompressing them.
//
// The pieces are compressed with pako (zlib's deflate in JS) because CompressionStream has no
// sync flush: its output always ends with a final block.
import pako from "pako";
import { hex } from "../ids";
import { crc32, crc32Combine } from "./crc32";
import { concat, MIN_PART_SIZE, ObjectSink, type WrittenObject } from "./object-sink";

export { MIN_PART_SIZE, type WrittenObject };

/** Text is handed to the compressor in batches: one encode and write per line would dominate CPU. */
const TEXT_BATCH_CHARS = 64 * 1024;
/** gzip level 6, the zlib default (what `gzip` and CompressionStream use). */
const LEVEL = 6;
const GZIP_HEADER = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
/** An empty final block (fixed Huffman, end-of-block only): ends the DEFLATE stream. */
const FINAL_BLOCK = new Uint8Array([0x03, 0x00]);

/** A piece of DEFLATE stream: `bytes` inflate to `rawBytes` bytes whose CRC-32 is `crc`. */
export interface DeflatePiece {
  bytes: Uint8Array;
  rawBytes: number;
  crc: number;
}

/** `raw` as a DEFLATE piece that can be followed by others (see the top of this file). */
export function deflatePiece(raw: Uint8Array): DeflatePiece {
  const chunks: Uint8Array[] = [];
  const d = new pako.Deflate({ level: LEVEL, raw: true });
  d.onData = (c) => chunks.push(c as Uint8Array);
  d.push(raw, pako.constants.Z_SYNC_FLUSH);
  return { bytes: concat(chunks), rawBytes: raw.byteLength, crc: crc32(raw) };
}

export class GzipJsonlWriter {
  rows = 0;
  /** Uncompressed bytes written so far. */
  rawBytes = 0;
  private crc = 0;
  private started = false;
  /** The piece lines are being compressed into; null between pieces. */
  private run: pako.Deflate | null = null;
  private out: Uint8Array[] = [];
  private readonly encoder = new TextEncoder();
  private text: string[] = [];
  private textChars = 0;
  private readonly sink: ObjectSink;

  constructor(
    bucket: R2Bucket,
    readonly key: string,
    partSize = MIN_PART_SIZE,
    httpMetadata: R2HTTPMetadata = { contentType: "application/gzip" },
  ) {
    this.sink = new ObjectSink(bucket, key, partSize, httpMetadata);
  }

  /** Appends one JSON line (the caller's object is serialised here). */
  async writeRecord(value: unknown): Promise<void> {
    const line = JSON.stringify(value) + "\n";
    this.text.push(line);
    this.textChars += line.length;
    this.rows++;
    if (this.textChars >= TEXT_BATCH_CHARS) await this.flushText();
  }

  /** Appends `rows` lines compressed elsewhere (`deflatePiece`), after the lines written so far. */
  async appendPiece(piece: DeflatePiece, rows: number): Promise<void> {
    await this.endRun();
    await this.emit(piece.bytes);
    this.crc = crc32Combine(this.crc, piece.crc, piece.rawBytes);
    this.rawBytes += piece.rawBytes;
    this.rows += rows;
  }

  /** Ends the file and makes it visible in R2. */
  async finish(): Promise<WrittenObject> {
    await this.endRun();
    const trailer = new DataView(new ArrayBuffer(8));
    trailer.setUint32(0, this.crc, true);
    trailer.setUint32(4, this.rawBytes % 2 ** 32, true);
    await this.emit(FINAL_BLOCK);
    await this.emit(new Uint8Array(trailer.buffer));
    return { key: this.key, rows: this.rows, rawBytes: this.rawBytes, ...(await this.sink.close()) };
  }

  /** Best effort: leaves no multipart upload behind (R2 would keep its parts until they expire). */
  async abort(_reason?: unknown): Promise<void> {
    this.run = null;
    this.out = [];
    await this.sink.abort();
  }

  private async flushText() {
    if (!this.text.length) return;
    const bytes = this.encoder.encode(this.text.join(""));
    this.text = [];
    this.textChars = 0;
    this.rawBytes += bytes.byteLength;
    this.crc = crc32(bytes, this.crc);
    if (!this.run) {
      this.run = new pako.Deflate({ level: LEVEL, raw: true });
      this.run.onData = (c) => this.out.push(c as Uint8Array);
    }
    this.run.push(bytes, pako.constants.Z_NO_FLUSH);
    await this.drain();
  }

  /** Ends the current piece of lines with a sync flush, so another piece may follow. */
  private async endRun() {
    await this.flushText();
    if (!this.run) return;
    this.run.push(new Uint8Array(0), pako.constants.Z_SYNC_FLUSH);
    this.run = null;
    await this.drain();
  }

  private async drain() {
    for (const chunk of this.out.splice(0)) await this.emit(chunk);
  }

  private async emit(bytes: Uint8Array) {
    if (!this.started) {
      this.started = true;
      await this.sink.write(GZIP_HEADER);
    }
    if (bytes.byteLength) await this.sink.write(bytes);
  }
}

/** A small object written in one piece (card, stats, manifest), with its size and sha256. */
export async function putSmall(bucket: R2Bucket, key: string, text: string, contentType: string): Promise<{ bytes: number; sha256: string }> {
  const body = new TextEncoder().encode(text);
  const sha256 = hex(await crypto.subtle.digest("SHA-256", body));
  await bucket.put(key, body, { httpMetadata: { contentType }, sha256 });
  return { bytes: body.byteLength, sha256 };
}
