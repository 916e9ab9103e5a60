// The data files a compile writes: per config (`default` SFT, `pairs` preference, `rejected`),
// rolling files of at most `rowsPerFile` rows, each in both formats (gzip JSONL and Parquet)
// with the same rows, so a reader can pick either. New files are named after the release that
// wrote them (`data/train-2026-11-24-00000.parquet`): an incremental release lists its parent's
// files next to its own, and the names never collide.
import * as keys from "../../r2/keys";
import { GzipJsonlWriter, type WrittenObject } from "./gzip-writer";
import { ParquetWriter } from "./parquet-writer";

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

interface Writer {
  writeRecord(value: unknown): Promise<void>;
  finish(): Promise<WrittenObject>;
  abort(e: unknown): Promise<void>;
  rows: number;
}

export class DataFiles {
  readonly files: DataFile[] = [];
  /** Keys this compile wrote, so a failed compile can remove them. */
  readonly written: string[] = [];
  private open = new Map<Config, { seq: number; path: (f: Format) => string; writers: Map<Format, Writer> }>();
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
    let o = this.open.get(config);
    if (o && [...o.writers.values()][0]!.rows >= this.rowsPerFile) {
      await this.close(config);
      o = undefined;
    }
    if (!o) o = this.start(config);
    for (const w of o.writers.values()) await w.writeRecord(value);
  }

  /** Ends every open file; `ensure` configs get an (empty) file if they have none, so globs match. */
  async finish(ensure: Config[] = []): Promise<DataFile[]> {
    for (const config of ensure) if (!this.open.has(config) && !this.files.some((f) => f.config === config)) this.start(config);
    for (const config of [...this.open.keys()]) await this.close(config);
    return this.files;
  }

  async abort(e: unknown): Promise<void> {
    for (const o of this.open.values()) for (const w of o.writers.values()) await w.abort(e).catch(() => {});
    this.open.clear();
  }

  private start(config: Config) {
    const seq = this.seq.get(config) ?? 0;
    this.seq.set(config, seq + 1);
    const path = (f: Format) => `${PREFIX[config]}-${this.version}-${String(seq).padStart(5, "0")}.${EXT[f]}`;
    const writers = new Map<Format, Writer>();
    for (const f of FORMATS) {
      const key = keys.releaseFile(this.dataset, this.version, path(f));
      this.written.push(key);
      writers.set(f, f === "jsonl" ? new GzipJsonlWriter(this.bucket, key, this.partSize) : new ParquetWriter(this.bucket, key, config, this.partSize));
    }
    const o = { seq, path, writers };
    this.open.set(config, o);
    return o;
  }

  private async close(config: Config) {
    const o = this.open.get(config)!;
    this.open.delete(config);
    for (const [format, w] of o.writers) this.files.push({ path: o.path(format), config, format, ...(await w.finish()) });
  }
}
