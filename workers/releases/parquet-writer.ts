// Writes one Parquet release file into R2 while it is being produced, with the same shape as
// GzipJsonlWriter (writeRecord / finish / abort), so a file of any size costs a bounded amount
// of memory: at most one row group of records plus about one part of encoded bytes.
//
// hyparquet-writer's ParquetWriter class writes a file incrementally: each `write` encodes its
// rows as one row group and calls the byte writer's `flush()`, which may return a promise the
// next group waits on; `finish` appends the page indexes and the footer (schema, row-group
// offsets) and calls the writer's `finish()`. Its encoders only ever append (offsets are taken
// from `writer.offset`, the running total), so our byte writer can hand its buffer to the R2
// ObjectSink and start over at any point. The rows are buffered here until a row group is full.
//
// Columns use real nested Parquet types, so DuckDB and Arrow see `messages` as a
// list<struct<role, content>>, `usage` as a struct, and so on. The two values with no fixed
// shape, `input` (the uploaded row: any fields) and `generator.params` (provider parameters,
// response_format included), are JSON text with Parquet's JSON logical type. Every column is
// nullable, so a record missing an optional field still fits.
import type { RowGroup, SchemaElement } from "hyparquet";
import { ByteWriter, ParquetWriter as RowGroupWriter } from "hyparquet-writer";
import { MIN_PART_SIZE, ObjectSink, type WrittenObject } from "./object-sink";

export type ParquetConfig = "default" | "pairs" | "rejected";

/** A row group closes at whichever comes first: this many rows, or this much JSON input. */
export interface RowGroupLimits {
  rows: number;
  /** Approximate: the length of the records' JSON, in UTF-16 code units. */
  chars: number;
}

// Small enough that the group's objects and its encoding stay a few MiB (a Worker has 128 MB);
// DuckDB and the Hub read row groups of this size without trouble.
const DEFAULT_ROW_GROUP: RowGroupLimits = { rows: 2_000, chars: 2 * 1024 * 1024 };
/** Encoded bytes are handed to the sink once this much has piled up inside a row group. */
const SPILL_BYTES = 1024 * 1024;

type Field =
  | { name: string; type: "string" | "json" | "int64" | "double" | "boolean" }
  | { name: string; type: "struct"; fields: Field[] }
  | { name: string; type: "list"; element: Field };

const str = (name: string): Field => ({ name, type: "string" });
const int = (name: string): Field => ({ name, type: "int64" });
const dbl = (name: string): Field => ({ name, type: "double" });
const struct = (name: string, fields: Field[]): Field => ({ name, type: "struct", fields });
const list = (name: string, element: Field): Field => ({ name, type: "list", element });

const messages = (name: string) => list(name, struct("element", [str("role"), str("content")]));
const tokens = [int("input_tokens"), int("output_tokens"), dbl("cost_usd")];
const generator = struct("generator", [str("provider"), str("model"), { name: "params", type: "json" }]);
const filters = list(
  "filters",
  struct("element", [str("name"), { name: "pass", type: "boolean" }, dbl("score"), str("reason"), str("detail"), struct("usage", [...tokens, str("model")])]),
);
const usage = struct("usage", tokens);
const lineage = struct("lineage", [str("job"), str("recipe_sha256"), str("prompt_sha256"), int("synthetic_depth")]);
const input: Field = { name: "input", type: "json" };
const sft = [str("id"), messages("messages"), input, generator, filters, usage, lineage, str("created_at")];
const pairSide = (name: string) =>
  struct(name, [str("id"), int("candidate"), generator, filters, usage, str("status"), dbl("score"), str("reason")]);

/**
 * The columns of each config. `default` is SPEC.md's SFT record (toSftRecord), `pairs` the
 * preference record (toPreferenceRecord); `rejected` is the SFT record plus its `reason`.
 * Keys a record has beyond these are not written.
 */
export const PARQUET_COLUMNS: Record<ParquetConfig, Field[]> = {
  default: sft,
  pairs: [
    str("id"),
    messages("prompt"),
    messages("chosen"),
    messages("rejected"),
    input,
    pairSide("chosen_meta"),
    pairSide("rejected_meta"),
    lineage,
    str("created_at"),
  ],
  rejected: [...sft, str("reason")],
};

export class ParquetWriter {
  rows = 0;
  private readonly sink: ObjectSink;
  private readonly bytes: SinkWriter;
  private readonly file: RowGroupWriter;
  private readonly columns: Field[];
  private group: Record<string, unknown>[] = [];
  private groupChars = 0;
  private readonly limits: RowGroupLimits;

  constructor(
    bucket: R2Bucket,
    readonly key: string,
    config: ParquetConfig,
    partSize = MIN_PART_SIZE,
    rowGroup: Partial<RowGroupLimits> = {},
  ) {
    this.sink = new ObjectSink(bucket, key, partSize, { contentType: "application/vnd.apache.parquet" });
    this.columns = PARQUET_COLUMNS[config];
    this.limits = { ...DEFAULT_ROW_GROUP, ...rowGroup };
    this.bytes = new SinkWriter(this.sink);
    this.file = new RowGroupWriter({ writer: this.bytes, schema: parquetSchema(config), createdBy: CREATED_BY });
  }

  /** Encoded bytes already handed to R2 (or to the part being filled): what left the row buffer. */
  get flushedBytes(): number {
    return this.bytes.flushed;
  }

  /** Appends one record (the caller's object is converted here, not kept). */
  async writeRecord(value: unknown): Promise<void> {
    this.group.push(rowOf(this.columns, value));
    this.groupChars += JSON.stringify(value).length;
    this.rows++;
    if (this.group.length >= this.limits.rows || this.groupChars >= this.limits.chars) await this.flushGroup();
  }

  /**
   * Appends a row group encoded elsewhere (segment.ts), after the rows buffered so far. `group`
   * is its metadata with offsets as if it started at byte 4 (right after "PAR1"); they are moved
   * to where it lands. Its bytes are copied as they are: no row is decoded or encoded again.
   */
  async appendRowGroup(bytes: Uint8Array, group: RowGroup): Promise<void> {
    await this.flushGroup();
    if (!group.num_rows) return;
    const delta = BigInt(this.bytes.offset - 4);
    const move = (v: bigint | undefined) => (v === undefined ? undefined : v + delta);
    const columns = group.columns.map((c) => ({
      ...c,
      file_offset: move(c.file_offset)!,
      ...(c.meta_data
        ? {
            meta_data: {
              ...c.meta_data,
              data_page_offset: move(c.meta_data.data_page_offset)!,
              dictionary_page_offset: move(c.meta_data.dictionary_page_offset),
              index_page_offset: move(c.meta_data.index_page_offset),
              bloom_filter_offset: move(c.meta_data.bloom_filter_offset),
            },
          }
        : {}),
    }));
    this.bytes.appendBytes(bytes);
    this.file.row_groups.push({ ...group, columns, ...(group.file_offset !== undefined ? { file_offset: group.file_offset + delta } : {}) });
    this.file.num_rows += group.num_rows;
    this.rows += Number(group.num_rows);
    await this.bytes.flush();
  }

  /** Writes the last row group and the footer, and makes the file visible in R2. */
  async finish(): Promise<WrittenObject> {
    await this.flushGroup();
    await this.file.finish();
    return { key: this.key, rows: this.rows, ...(await this.sink.close()) };
  }

  /** Best effort: leaves no multipart upload behind (R2 would keep its parts until they expire). */
  async abort(_reason?: unknown): Promise<void> {
    this.group = [];
    await this.sink.abort();
  }

  private async flushGroup() {
    if (!this.group.length) return;
    const rows = this.group;
    this.group = [];
    this.groupChars = 0;
    await this.file.write({ columnData: columnsOf(this.columns, rows), rowGroupSize: rows.length });
  }
}

const CREATED_BY = "winnow (hyparquet-writer)";

/** The file schema of a config: the root, then each column's elements depth-first. */
export function parquetSchema(config: ParquetConfig): SchemaElement[] {
  const columns = PARQUET_COLUMNS[config];
  return [{ name: "schema", num_children: columns.length }, ...columns.flatMap((f) => schemaOf(f))];
}

/** Records (release rows) as hyparquet-writer's column data for one row group of `config`. */
export function columnData(config: ParquetConfig, records: readonly unknown[]) {
  const columns = PARQUET_COLUMNS[config];
  return columnsOf(columns, records.map((r) => rowOf(columns, r)));
}

function rowOf(columns: Field[], value: unknown): Record<string, unknown> {
  const record = (value ?? {}) as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (const f of columns) row[f.name] = convert(f, record[f.name]);
  return row;
}

const columnsOf = (columns: Field[], rows: Record<string, unknown>[]) => columns.map((f) => ({ name: f.name, data: rows.map((r) => r[f.name]) }));

/** hyparquet-writer's byte writer, emptied into the sink whenever it fills and after each row group. */
class SinkWriter extends ByteWriter {
  flushed = 0;
  private spilled: Uint8Array[] = [];

  constructor(private readonly sink: ObjectSink) {
    super(64 * 1024);
  }

  override ensure(size: number): void {
    if (this.index >= SPILL_BYTES) this.spill();
    super.ensure(size);
  }

  async flush(): Promise<void> {
    this.spill();
    for (const chunk of this.spilled.splice(0)) {
      await this.sink.write(chunk);
      this.flushed += chunk.byteLength;
    }
  }

  override finish(): Promise<void> {
    return this.flush();
  }

  /** Encoders run synchronously, so bytes set aside mid-group wait here for the next flush. */
  private spill() {
    if (!this.index) return;
    this.spilled.push(new Uint8Array(this.buffer.slice(0, this.index)));
    this.index = 0;
  }
}

/** The flat, depth-first schema elements of one column (Parquet's three-level lists). */
function schemaOf(f: Field): SchemaElement[] {
  const repetition_type = "OPTIONAL";
  switch (f.type) {
    case "string":
      return [{ name: f.name, repetition_type, type: "BYTE_ARRAY", converted_type: "UTF8", logical_type: { type: "STRING" } }];
    case "json":
      return [{ name: f.name, repetition_type, type: "BYTE_ARRAY", converted_type: "JSON", logical_type: { type: "JSON" } }];
    case "int64":
      return [{ name: f.name, repetition_type, type: "INT64" }];
    case "double":
      return [{ name: f.name, repetition_type, type: "DOUBLE" }];
    case "boolean":
      return [{ name: f.name, repetition_type, type: "BOOLEAN" }];
    case "struct":
      return [{ name: f.name, repetition_type, num_children: f.fields.length }, ...f.fields.flatMap(schemaOf)];
    case "list":
      return [
        { name: f.name, repetition_type, converted_type: "LIST", logical_type: { type: "LIST" }, num_children: 1 },
        { name: "list", repetition_type: "REPEATED", num_children: 1 },
        ...schemaOf({ ...f.element, name: "element" }),
      ];
  }
}

/** A record's value in the column's physical shape (INT64 wants bigint, structs keep only their fields). */
function convert(f: Field, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (f.type) {
    case "string":
      return typeof v === "string" ? v : JSON.stringify(v);
    case "json":
      return v;
    case "int64":
      return typeof v === "number" && Number.isFinite(v) ? BigInt(Math.round(v)) : null;
    case "double":
      return typeof v === "number" ? v : null;
    case "boolean":
      return typeof v === "boolean" ? v : null;
    case "struct": {
      if (typeof v !== "object" || Array.isArray(v)) return null;
      const out: Record<string, unknown> = {};
      for (const c of f.fields) out[c.name] = convert(c, (v as Record<string, unknown>)[c.name]);
      return out;
    }
    case "list":
      return Array.isArray(v) ? v.map((e) => convert(f.element, e)) : null;
  }
}
