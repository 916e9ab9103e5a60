// Streamed JSONL uploads: rows are parsed as they arrive and written to R2 in fixed-size
// chunks, so a large file never sits in memory and a task can address any input by index.
import { db, schema } from "./db";
import type { Env } from "./env";
import { ApiError } from "./errors";
import { newId } from "./ids";
import * as keys from "../r2/keys";
import { deleteKeys } from "../r2/bulk";

/** Input i lives in chunk i / ROWS_PER_CHUNK; task sizes divide this so a task reads one chunk. */
export const ROWS_PER_CHUNK = 200;
export const MAX_ROW_BYTES = 64 * 1024;

export interface UploadResult {
  id: string;
  rows: number;
  chunks: number;
  bytes: number;
  fields: string[];
}

const encoder = new TextEncoder();
const utf8Length = (s: string) => encoder.encode(s).byteLength;

/** Splits a byte stream into lines without ever holding more than one partial line. */
async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  let lineNo = 1;
  // Fatal: invalid UTF-8 would otherwise become U+FFFD in the stored rows, silently.
  const text = body.pipeThrough(new TextDecoderStream("utf-8", { fatal: true })) as unknown as AsyncIterable<string>;
  try {
    for await (const chunk of text) {
      buf += chunk;
      // A line that never ends must not grow without bound (a UTF-16 unit is at least one byte).
      if (buf.length > MAX_ROW_BYTES && buf.indexOf("\n") < 0)
        throw new ApiError(413, "row_too_large", `line ${lineNo}: row exceeds ${MAX_ROW_BYTES} bytes`, [{ line: lineNo }]);
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        yield buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lineNo++;
      }
    }
  } catch (e) {
    if (e instanceof TypeError) throw new ApiError(400, "invalid_encoding", `line ${lineNo}: not valid UTF-8; send JSONL encoded as UTF-8`, [{ line: lineNo }]);
    throw e;
  }
  if (buf.length) yield buf;
}

/**
 * Stores rows from a JSONL stream (or an array) as an upload. On any bad row, the chunks
 * already written are removed and nothing is recorded: an upload is all or nothing.
 */
export async function storeUpload(
  env: Env,
  keyId: string,
  datasetId: string,
  source: ReadableStream<Uint8Array> | Record<string, unknown>[],
  id = newId("inp"),
): Promise<UploadResult> {
  let rows = 0;
  let bytes = 0;
  let chunk: string[] = [];
  let chunks = 0;
  let fields: Set<string> | null = null;
  const flush = async () => {
    if (!chunk.length) return;
    await env.BUCKET.put(keys.uploadChunk(id, chunks), chunk.join("\n") + "\n");
    chunks++;
    chunk = [];
  };
  const add = async (row: unknown, lineNo: number, text: string) => {
    if (!row || typeof row !== "object" || Array.isArray(row))
      throw new ApiError(400, "invalid_row", `line ${lineNo}: each line must be a JSON object`, [{ line: lineNo }]);
    const size = utf8Length(text);
    if (size > MAX_ROW_BYTES) throw new ApiError(413, "row_too_large", `line ${lineNo}: row is ${size} bytes, the limit is ${MAX_ROW_BYTES}`, [{ line: lineNo }]);
    const keysOfRow = Object.keys(row);
    fields = fields ? new Set(keysOfRow.filter((k) => fields!.has(k))) : new Set(keysOfRow);
    chunk.push(text);
    rows++;
    bytes += size + 1;
    if (chunk.length === ROWS_PER_CHUNK) await flush();
  };
  try {
    if (Array.isArray(source)) {
      for (const [i, row] of source.entries()) await add(row, i + 1, JSON.stringify(row));
    } else {
      let lineNo = 0;
      for await (const raw of lines(source)) {
        lineNo++;
        const text = raw.trim();
        if (!text) continue;
        let row: unknown;
        try {
          row = JSON.parse(text);
        } catch (e) {
          throw new ApiError(400, "invalid_jsonl", `line ${lineNo}: not valid JSON (${(e as Error).message})`, [{ line: lineNo }]);
        }
        await add(row, lineNo, JSON.stringify(row));
      }
    }
    await flush();
    if (rows === 0) throw new ApiError(400, "empty_upload", "the upload has no rows; send one JSON object per line");
    const result = { id, rows, chunks, bytes, fields: [...(fields ?? [])].sort() };
    await db(env).insert(schema.uploads).values({ id, keyId, datasetId, rows, rowsPerChunk: ROWS_PER_CHUNK, chunks, bytes, fields: result.fields });
    return result;
  } catch (e) {
    // All or nothing: remove what was written before the bad row.
    const written = Array.from({ length: chunks }, (_, i) => keys.uploadChunk(id, i));
    await deleteKeys(env.BUCKET, written);
    throw e;
  }
}

/** Reads rows [start, start+count) of an upload; callers keep ranges inside one chunk. */
export async function readUploadRows(env: Env, uploadId: string, start: number, count: number): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let i = start;
  while (i < start + count) {
    const chunkNo = Math.floor(i / ROWS_PER_CHUNK);
    const obj = await env.BUCKET.get(keys.uploadChunk(uploadId, chunkNo));
    if (!obj) throw new Error(`upload ${uploadId} chunk ${chunkNo} is missing`);
    const rows = (await obj.text()).split("\n").filter(Boolean);
    const end = Math.min(start + count, (chunkNo + 1) * ROWS_PER_CHUNK);
    for (; i < end; i++) out.push(JSON.parse(rows[i - chunkNo * ROWS_PER_CHUNK]!));
  }
  return out;
}
