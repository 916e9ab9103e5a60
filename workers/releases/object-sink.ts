// The byte end of every streamed release file (gzip JSONL, Parquet): bytes go into one R2
// object while they are produced, so a file of any size costs about one part of memory.
//
// R2 `put` needs a known length for a stream, so bytes are buffered into parts: an object that
// stays below one part is a single `put`; a larger one becomes a multipart upload, started only
// when the first part fills. R2 wants every part but the last to be >= 5 MiB and of one size, so
// parts are cut at exactly `partSize` bytes. The sha256 is computed on the same bytes as they
// stream, with workerd's DigestStream (SubtleCrypto cannot hash incrementally).
import { hex } from "../ids";

/** R2's minimum size for every part of a multipart upload except the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

export interface WrittenObject {
  key: string;
  rows: number;
  /** Size as stored. */
  bytes: number;
  sha256: string;
  /** gzip JSONL: the uncompressed size (for the release's compression ratio). */
  rawBytes?: number;
}

/**
 * Puts an object given as pieces through a FixedLengthStream, so R2 gets a known length without
 * the pieces being joined into one buffer first: an R2 put of one buffer holds a second copy of
 * it while it runs, and the release compile's largest objects (a step's data files, and its
 * dedup index pieces) would then be held twice at the step's busiest moment.
 * (Small pieces are joined 1 MiB at a time: `coalesce`.)
 */
export async function putChunks(bucket: R2Bucket, key: string, chunks: Uint8Array[], length: number, options: R2PutOptions = {}): Promise<R2Object> {
  const obj = await streamChunks((body) => bucket.put(key, body, options), chunks, length);
  if (!obj) throw new Error(`R2 put of ${key} was refused`);
  return obj;
}

/** Hands `chunks` (`length` bytes in all) to `send` as one stream of known length, without joining them. */
async function streamChunks<T>(send: (body: ReadableStream) => Promise<T>, chunks: Uint8Array[], length: number): Promise<T> {
  const { readable, writable } = new FixedLengthStream(length);
  const sent = send(readable);
  sent.catch(() => {}); // awaited below; a send that fails mid-write must not go unhandled meanwhile
  const w = writable.getWriter();
  try {
    for (const c of coalesce(chunks, COALESCE_BYTES)) await w.write(c);
    await w.close();
  } catch (e) {
    await sent; // the send's own error, when it is why the writes failed
    throw e;
  }
  return sent;
}

/**
 * Chunks are written to an R2 body stream in pieces of at least this much: a release file's
 * chunks are a segment's pieces (24–40 KB), and local R2 took 150 ms for a 5 MiB part written in
 * 24 KB pieces against 108 ms in 1 MiB ones (measured with Miniflare; copying 5 MiB costs ~1 ms).
 */
const COALESCE_BYTES = 1 << 20;

/** The chunks, with runs of small ones copied into buffers of about `size` bytes; large ones as they are. */
export function* coalesce(chunks: Iterable<Uint8Array>, size: number): Generator<Uint8Array> {
  let run: Uint8Array[] = [];
  let bytes = 0;
  const joined = () => {
    const out = concat(run);
    run = [];
    bytes = 0;
    return out;
  };
  for (const c of chunks) {
    if (c.byteLength >= size) {
      if (run.length) yield joined();
      yield c;
      continue;
    }
    run.push(c);
    bytes += c.byteLength;
    if (bytes >= size) yield joined();
  }
  if (run.length) yield joined();
}

/** The parts as one buffer; a single part is handed back as it is, not copied. */
export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** A buffer as views of at most `size` bytes (no copy), for putChunks. */
export function slices(bytes: Uint8Array, size = 1 << 20): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.byteLength; at += size) out.push(bytes.subarray(at, Math.min(bytes.byteLength, at + size)));
  return out;
}

export class ObjectSink {
  private readonly digest = new crypto.DigestStream("SHA-256");
  private readonly hash = this.digest.getWriter();
  private bytes = 0;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private upload: R2MultipartUpload | null = null;
  private readonly parts: R2UploadedPart[] = [];

  constructor(
    private readonly bucket: R2Bucket,
    readonly key: string,
    private readonly partSize: number,
    private readonly httpMetadata: R2HTTPMetadata,
  ) {
    if (partSize < MIN_PART_SIZE) throw new Error(`partSize must be at least ${MIN_PART_SIZE} bytes (R2's minimum part size)`);
  }

  /** Hashes and buffers the bytes, uploading every part that fills. The caller must not reuse `chunk`. */
  async write(chunk: Uint8Array): Promise<void> {
    if (!chunk.byteLength) return;
    this.bytes += chunk.byteLength;
    await this.hash.write(chunk);
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    while (this.buffered >= this.partSize) await this.uploadPart(this.take(this.partSize), this.partSize);
  }

  /** Ends the object and makes it visible in R2. */
  async close(): Promise<{ bytes: number; sha256: string }> {
    await this.hash.close();
    const sha256 = hex(await this.digest.digest);
    if (!this.upload) {
      // The whole object is still in `chunks`: streamed into the put as they are, not joined
      // into one more copy of the object.
      await putChunks(this.bucket, this.key, this.chunks.splice(0), this.buffered, { httpMetadata: this.httpMetadata, sha256 });
      this.buffered = 0;
    } else {
      const n = this.buffered;
      if (n > 0) await this.uploadPart(this.take(n), n);
      await this.upload.complete(this.parts);
    }
    return { bytes: this.bytes, sha256 };
  }

  /** Best effort: leaves no multipart upload behind (R2 would keep its parts until they expire). */
  async abort(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    await this.upload?.abort().catch(() => {});
  }

  /** One more part, streamed from its chunks: never joined into a second copy of the part. */
  private async uploadPart(chunks: Uint8Array[], length: number) {
    this.upload ??= await this.bucket.createMultipartUpload(this.key, { httpMetadata: this.httpMetadata });
    const upload = this.upload;
    this.parts.push(await streamChunks((body) => upload.uploadPart(this.parts.length + 1, body), chunks, length));
  }

  /** Removes exactly n bytes from the front of the buffer, as views of its chunks. */
  private take(n: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const want = n - filled;
      if (head.byteLength <= want) {
        out.push(head);
        filled += head.byteLength;
        this.chunks.shift();
      } else {
        out.push(head.subarray(0, want));
        this.chunks[0] = head.subarray(want);
        filled += want;
      }
    }
    this.buffered -= n;
    return out;
  }
}
