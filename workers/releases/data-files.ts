// The data files a compile writes: per config (`default` SFT, `pairs` preference, `rejected`),
// rolling files of at most `rowsPerFile` rows, each in both formats (gzip JSONL and Parquet)
// with the same rows, so a reader can pick either. New files are named after the release that
// wrote them (`data/train-2026-11-24-00000.parquet`): an incremental release lists its parent's
// files next to its own, and the names never collide.
import * as keys from "../../r2/keys";
import { GzipJsonlWriter, type DeflatePiece, type WrittenObject } from "./gzip-writer";
import { ParquetWriter } from "./parquet-writer";
import type { RowGroup } from "hyparquet";

export type Config = "default" | "pairs" | "rejected";
export type Format = "jsonl" | "parquet";
export const FORMATS: Format[] = ["jsonl", "parquet"];
const PREFIX: Record<Config, string> = { default: "data/train", pairs: "data/pairs", rejected: "data/rejected" };
const EXT: Record<Format, string> = { jsonl: "jsonl.gz", parquet: "parquet" };

export interface DataFile extends WrittenObject {
  path: string;
  config: Config;
  format: Format;
}

/** One gzip JSONL and one Parquet file with the same rows. */
interface OpenFile {
  seq: number;
  path: (f: Format) => string;
  jsonl: GzipJsonlWriter;
  parquet: ParquetWriter;
}

/** Rows already encoded for both formats (a shard's segment: segment.ts). */
export interface EncodedRows {
  rows: number;
  jsonl: DeflatePiece;
  parquet: { bytes: Uint8Array; group: RowGroup };
}

export class DataFiles {
  readonly files: DataFile[] = [];
  /** Keys this compile wrote, so a failed compile can remove them. */
  readonly written: string[] = [];
  private open = new Map<Config, OpenFile>();
  private seq: Map<Config, number>;

  /** `seq`: the next file number per config, when an earlier compile step already wrote some. */
  constructor(
    private bucket: R2Bucket,
    private dataset: string,
    private version: string,
    private rowsPerFile: number,
    private partSize: number,
    seq: Partial<Record<Config, number>> = {},
  ) {
    this.seq = new Map(Object.entries(seq) as [Config, number][]);
  }

  /** The next file number per config, for the next compile step. */
  nextSeq(): Partial<Record<Config, number>> {
    return Object.fromEntries(this.seq);
  }

  async write(config: Config, value: unknown): Promise<void> {
    const o = await this.current(config);
    await o.jsonl.writeRecord(value);
    await o.parquet.writeRecord(value);
  }

  /** Appends rows encoded elsewhere, as they are: a DEFLATE piece and a Parquet row group. */
  async append(config: Config, rows: EncodedRows): Promise<void> {
    if (!rows.rows) return;
    const o = await this.current(config);
    await o.jsonl.appendPiece(rows.jsonl, rows.rows);
    await o.parquet.appendRowGroup(rows.parquet.bytes, rows.parquet.group);
  }

  /** The open files of a config, a new pair once the current ones hold `rowsPerFile` rows. */
  private async current(config: Config): Promise<OpenFile> {
    const o = this.open.get(config);
    if (o && o.jsonl.rows < this.rowsPerFile) return o;
    if (o) await this.close(config);
    return this.start(config);
  }

  /** Ends every open file; `ensure` configs get an (empty) file if they have none, so globs match. */
  async finish(ensure: Config[] = []): Promise<DataFile[]> {
    for (const config of ensure) if (!this.open.has(config) && !this.files.some((f) => f.config === config)) this.start(config);
    for (const config of [...this.open.keys()]) await this.close(config);
    return this.files;
  }

  async abort(e: unknown): Promise<void> {
    for (const o of this.open.values()) for (const w of [o.jsonl, o.parquet]) await w.abort(e).catch(() => {});
    this.open.clear();
  }

  private start(config: Config): OpenFile {
    const seq = this.seq.get(config) ?? 0;
    this.seq.set(config, seq + 1);
    const path = (f: Format) => `${PREFIX[config]}-${this.version}-${String(seq).padStart(5, "0")}.${EXT[f]}`;
    const key = (f: Format) => {
      const k = keys.releaseFile(this.dataset, this.version, path(f));
      this.written.push(k);
      return k;
    };
    const o = { seq, path, jsonl: new GzipJsonlWriter(this.bucket, key("jsonl"), this.partSize), parquet: new ParquetWriter(this.bucket, key("parquet"), config, this.partSize) };
    this.open.set(config, o);
    return o;
  }

  private async close(config: Config) {
    const o = this.open.get(config)!;
    this.open.delete(config);
    for (const format of FORMATS) this.files.push({ path: o.path(format), config, format, ...(await o[format].finish()) });
  }
}
