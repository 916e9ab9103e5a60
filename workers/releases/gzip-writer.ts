// Writes one gzip JSONL object into R2 while it is being produced, so a release file of any
// size costs a bounded amount of memory (about one part plus what the compressor holds). The
// compressed bytes go to R2 through an ObjectSink (parts, multipart upload, sha256).
import { hex } from "../ids";
import { MIN_PART_SIZE, ObjectSink, type WrittenObject } from "./object-sink";

export { MIN_PART_SIZE, type WrittenObject };

/** Text is handed to the compressor in batches: one encode and write per line would dominate CPU. */
const TEXT_BATCH_CHARS = 64 * 1024;

export class GzipJsonlWriter {
  rows = 0;
  /** Uncompressed bytes written so far. */
  rawBytes = 0;
  private readonly input: WritableStreamDefaultWriter<Uint8Array>;
  private readonly pump: Promise<void>;
  /** Rejects as soon as the pump fails, so a blocked write cannot wait on it forever. */
  private readonly pumpFailed: Promise<never>;
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
    await this.pump;
    return { key: this.key, rows: this.rows, rawBytes: this.rawBytes, ...(await this.sink.close()) };
  }

  /** Best effort: leaves no multipart upload behind (R2 would keep its parts until they expire). */
  async abort(reason?: unknown): Promise<void> {
    await this.input.abort(reason).catch(() => {});
    await this.pump.catch(() => {});
    await this.sink.abort();
  }

  private async flushText() {
    if (!this.text.length) return;
    const bytes = this.encoder.encode(this.text.join(""));
    this.rawBytes += bytes.byteLength;
    this.text = [];
    this.textChars = 0;
    await Promise.race([this.input.write(bytes), this.pumpFailed]);
  }

  /** Hands compressed output to the sink, which hashes it and uploads every full part. */
  private async drain(readable: ReadableStream<Uint8Array>): Promise<void> {
    const reader = readable.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        await this.sink.write(value);
      }
    } catch (e) {
      // Errors the compressor's writable side too, so the producer stops instead of blocking.
      await reader.cancel(e).catch(() => {});
      throw e;
    }
  }
}

/** A small object written in one piece (card, stats, manifest), with its size and sha256. */
export async function putSmall(bucket: R2Bucket, key: string, text: string, contentType: string): Promise<{ bytes: number; sha256: string }> {
  const body = new TextEncoder().encode(text);
  const sha256 = hex(await crypto.subtle.digest("SHA-256", body));
  await bucket.put(key, body, { httpMetadata: { contentType }, sha256 });
  return { bytes: body.byteLength, sha256 };
}
