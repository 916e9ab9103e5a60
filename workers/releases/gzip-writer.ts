// Writes one gzip JSONL object into R2 while it is being produced, so a release file of any
// size costs a bounded amount of memory (about one part plus what the compressor holds).
//
// R2 `put` needs a known length for a stream, so compressed bytes are buffered into parts:
// a file that stays below one part is a single `put`; a larger one becomes a multipart upload,
// started only when the first part fills. R2 wants every part but the last to be >= 5 MiB and
// of one size, so parts are cut at exactly `partSize` bytes. The sha256 is computed on the same
// bytes as they stream, with workerd's DigestStream (SubtleCrypto cannot hash incrementally).
import { hex } from "../ids";

/** R2's minimum size for every part of a multipart upload except the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

/** Text is handed to the compressor in batches: one encode and write per line would dominate CPU. */
const TEXT_BATCH_CHARS = 64 * 1024;

export interface WrittenObject {
  key: string;
  rows: number;
  /** Compressed size, as stored. */
  bytes: number;
  sha256: string;
}

export class GzipJsonlWriter {
  rows = 0;
  private readonly input: WritableStreamDefaultWriter<Uint8Array>;
  private readonly pump: Promise<{ bytes: number; sha256: string }>;
  /** Rejects as soon as the pump fails, so a blocked write cannot wait on it forever. */
  private readonly pumpFailed: Promise<never>;
  private readonly encoder = new TextEncoder();
  private text: string[] = [];
  private textChars = 0;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private upload: R2MultipartUpload | null = null;
  private readonly parts: R2UploadedPart[] = [];

  constructor(
    private readonly bucket: R2Bucket,
    readonly key: string,
    private readonly partSize = MIN_PART_SIZE,
    private readonly httpMetadata: R2HTTPMetadata = { contentType: "application/gzip" },
  ) {
    if (partSize < MIN_PART_SIZE) throw new Error(`partSize must be at least ${MIN_PART_SIZE} bytes (R2's minimum part size)`);
    const gzip = new CompressionStream("gzip");
    this.input = gzip.writable.getWriter();
    this.pump = this.drain(gzip.readable);
    this.pumpFailed = this.pump.then(() => new Promise<never>(() => {}));
    // Observed through write()/finish(); this keeps an early failure from being "unhandled".
    this.pumpFailed.catch(() => {});
  }

  /** Appends one JSON line (the caller's object is serialised here). */
  async writeRecord(value: unknown): Promise<void> {
    const line = JSON.stringify(value) + "\n";
    this.text.push(line);
    this.textChars += line.length;
    this.rows++;
    if (this.textChars >= TEXT_BATCH_CHARS) await this.flushText();
  }

  /** Ends the file and makes it visible in R2. */
  async finish(): Promise<WrittenObject> {
    await this.flushText();
    await Promise.race([this.input.close(), this.pumpFailed]);
    const { bytes, sha256 } = await this.pump;
    const rest = this.take(this.buffered);
    if (!this.upload) {
      await this.bucket.put(this.key, rest, { httpMetadata: this.httpMetadata, sha256 });
    } else {
      if (rest.byteLength > 0 || this.parts.length === 0) this.parts.push(await this.upload.uploadPart(this.parts.length + 1, rest));
      await this.upload.complete(this.parts);
    }
    return { key: this.key, rows: this.rows, bytes, sha256 };
  }

  /** Best effort: leaves no multipart upload behind (R2 would keep its parts until they expire). */
  async abort(reason?: unknown): Promise<void> {
    await this.input.abort(reason).catch(() => {});
    await this.pump.catch(() => {});
    await this.upload?.abort().catch(() => {});
  }

  private async flushText() {
    if (!this.text.length) return;
    const bytes = this.encoder.encode(this.text.join(""));
    this.text = [];
    this.textChars = 0;
    await Promise.race([this.input.write(bytes), this.pumpFailed]);
  }

  /** Reads compressed output: hashes it, buffers it and uploads every full part. */
  private async drain(readable: ReadableStream<Uint8Array>): Promise<{ bytes: number; sha256: string }> {
    const digest = new crypto.DigestStream("SHA-256");
    const hash = digest.getWriter();
    const reader = readable.getReader();
    let bytes = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        await hash.write(value);
        this.chunks.push(value);
        this.buffered += value.byteLength;
        while (this.buffered >= this.partSize) {
          const part = this.take(this.partSize);
          this.upload ??= await this.bucket.createMultipartUpload(this.key, { httpMetadata: this.httpMetadata });
          this.parts.push(await this.upload.uploadPart(this.parts.length + 1, part));
        }
      }
      await hash.close();
      return { bytes, sha256: hex(await digest.digest) };
    } catch (e) {
      // Errors the compressor's writable side too, so the producer stops instead of blocking.
      await reader.cancel(e).catch(() => {});
      throw e;
    }
  }

  /** Removes exactly n bytes from the front of the buffer, as one contiguous array. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const want = n - filled;
      if (head.byteLength <= want) {
        out.set(head, filled);
        filled += head.byteLength;
        this.chunks.shift();
      } else {
        out.set(head.subarray(0, want), filled);
        this.chunks[0] = head.subarray(want);
        filled += want;
      }
    }
    this.buffered -= n;
    return out;
  }
}

/** A small object written in one piece (card, stats, manifest), with its size and sha256. */
export async function putSmall(bucket: R2Bucket, key: string, text: string, contentType: string): Promise<{ bytes: number; sha256: string }> {
  const body = new TextEncoder().encode(text);
  const sha256 = hex(await crypto.subtle.digest("SHA-256", body));
  await bucket.put(key, body, { httpMetadata: { contentType }, sha256 });
  return { bytes: body.byteLength, sha256 };
}
