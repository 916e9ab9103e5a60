// The batch endpoints of the loopback fake: OpenAI's Batch API (files + batches) and Anthropic's
// Message Batches, in their real wire formats. fake-openai.mjs routes to them and passes in
// `reply`, so every line is answered exactly like the chat endpoints answer one call.
//
// Deterministic by design: a batch ends at its Nth status poll (default 2: the first GET says
// in progress, the second says ended), and faults are picked from the request body alone:
//
//   model name          what the batch does with the line
//   fault-500           errored with a 500-class error (retryable), every time
//   fault-400           errored with a 400-class error (final), every time
//   fault-malformed     its results line is cut off mid-JSON
//   batchfail-<any>     on the line's first submission ~1 in 4 come back errored (500-class) and
//                       ~1 in 10 expired; every later submission of the same line succeeds
//   batchdead-<any>     the whole batch fails: OpenAI `failed` (no files), Anthropic every line errored
//   batch429-<any>      creating the first batch with this model answers 429 (retry-after: 1)
//   batch500-<any>      creating the first batch with this model answers 500 (retry-after: 2)
//
// A line is `model|last user message|candidate`; the candidate is the trailing number of the
// custom_id (models/batch.ts writes `i{input}-c{candidate}`), like x-winnow-candidate for a call.
// Cancelling a running batch lets its first half finish (billed); the rest is cancelled (OpenAI:
// absent from the files, Anthropic: `canceled` lines).
//
// Stats (`/__stats` → `batch`): billedLines counts lines returned as succeeded, i.e. paid for, and
// billedByLine counts them per line key, so a test can prove no line was paid for twice.
//
// Node built-ins only, like fake-openai.mjs.

const DEFAULT_POLLS_TO_END = 2;
const MAX_BODY_BYTES = 50 * 1024 * 1024;

/**
 * @typedef {{ text: string, inputTokens: number, outputTokens: number }} Reply
 * @typedef {(model: string, body: { messages: any[], system?: unknown }, candidate: number | null) => Reply} ReplyFn
 * @typedef {"ok" | "error500" | "error400" | "expired" | "malformed"} Fate
 * @typedef {{ custom_id: string, model: string, body: any, candidate: number | null, key: string, fate: Fate }} Line
 * @typedef {{ custom_id: string, kind: Fate | "canceled", reply?: Reply, model: string }} Outcome
 * @typedef {{
 *   wire: "openai" | "anthropic", id: string, createdAt: number, lines: Line[], polls: number,
 *   phase: "running" | "cancelling" | "ended", cancelled?: boolean, failReason: string | null, inputFileId?: string,
 *   metadata?: unknown, outcomes?: Outcome[], outputFileId?: string | null, errorFileId?: string | null,
 *   resultsUrl?: string
 * }} Batch
 * @typedef {{
 *   batches: number, lines: number, polls: number, billedLines: number,
 *   billedByLine: Record<string, number>, erroredLines: number, expiredLines: number, canceledLines: number
 * }} BatchStats
 */

function freshStats() {
  return { batches: 0, lines: 0, polls: 0, billedLines: 0, billedByLine: {}, erroredLines: 0, expiredLines: 0, canceledLines: 0 };
}

/** FNV-1a plus murmur3's finaliser: keys that differ only in their last digit still spread. */
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function lastUserText(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role !== "user") continue;
    if (typeof m.content === "string") return m.content;
    return Array.isArray(m.content) ? m.content.map((p) => (typeof p === "string" ? p : (p?.text ?? ""))).join("") : "";
  }
  return "";
}

export function sendJson(res, status, body, headers = {}) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

/** @returns {Promise<Buffer | null>} null when larger than `maxBytes` */
export function readBody(req, maxBytes = MAX_BODY_BYTES) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > maxBytes ? null : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

const openaiError = (message, type = "invalid_request_error", code = null) => ({ error: { message, type, param: null, code } });
const anthropicError = (type, message) => ({ type: "error", error: { type, message } });
const SERVER_ERROR = "The server had an error while processing your request.";

/**
 * @param {{ reply: ReplyFn }} deps
 */
export function createFakeBatch({ reply }) {
  let pollsToEnd = DEFAULT_POLLS_TO_END;
  /** @type {BatchStats} */
  let stats = freshStats();
  /** @type {Map<string, string>} file id → content */
  let files = new Map();
  /** @type {Map<string, Batch>} */
  let batches = new Map();
  /** Line keys already submitted once (batchfail-) and models whose one create fault fired. */
  let seenLines = new Set();
  let seenCreateFaults = new Set();
  let nextId = 1;

  function reset() {
    pollsToEnd = DEFAULT_POLLS_TO_END;
    stats = freshStats();
    files = new Map();
    batches = new Map();
    seenLines = new Set();
    seenCreateFaults = new Set();
  }

  /** A line's fate is fixed when it is submitted, so "first submission" means submission order. */
  function toLine(custom_id, body) {
    const model = typeof body?.model === "string" ? body.model : "";
    const m = /(\d+)$/.exec(custom_id);
    const candidate = m ? Number(m[1]) : null;
    const prompt = lastUserText(body.messages);
    const key = `${model}|${prompt}|${candidate ?? "-"}`;
    const first = !seenLines.has(key);
    seenLines.add(key);
    /** @type {Fate} */
    let fate = "ok";
    if (model === "fault-500" || model.startsWith("batchdead-")) fate = "error500";
    else if (model === "fault-400") fate = "error400";
    else if (model === "fault-malformed") fate = "malformed";
    else if (model.startsWith("batchfail-") && first) {
      // Not hashed with the model, so which lines fail does not depend on a test's model name.
      const r = hash(`${prompt}|${candidate}`) % 20;
      fate = r < 5 ? "error500" : r < 7 ? "expired" : "ok";
    }
    return { custom_id, model, body, candidate, key, fate };
  }

  /** The create-time fault for a batch's lines (once per model name), or null. */
  function createFault(lines) {
    for (const { model } of lines) {
      const m = /^batch(429|500)-/.exec(model);
      if (m && !seenCreateFaults.has(model)) {
        seenCreateFaults.add(model);
        return m[1] === "429" ? { status: 429, retryAfter: "1" } : { status: 500, retryAfter: "2" };
      }
    }
    return null;
  }

  function register(wire, lines, extra = {}) {
    const batch = { wire, id: "", createdAt: Math.floor(Date.now() / 1000), lines, polls: 0, phase: "running", failReason: null, ...extra };
    batch.id = wire === "openai" ? `batch_fake${nextId++}` : `msgbatch_fake${nextId++}`;
    batches.set(batch.id, batch);
    stats.batches++;
    stats.lines += lines.length;
    return batch;
  }

  /** Runs the lines (once): the moment they are paid for. A cancel lets the first half finish. */
  function finish(batch) {
    const cancelled = batch.phase === "cancelling";
    batch.phase = "ended";
    batch.cancelled = cancelled;
    if (batch.failReason) return;
    const finished = cancelled ? Math.ceil(batch.lines.length / 2) : batch.lines.length;
    batch.outcomes = batch.lines.map((line, i) => {
      if (i >= finished) {
        stats.canceledLines++;
        return { custom_id: line.custom_id, model: line.model, kind: "canceled" };
      }
      if (line.fate === "ok" || line.fate === "malformed") {
        stats.billedLines++;
        stats.billedByLine[line.key] = (stats.billedByLine[line.key] ?? 0) + 1;
        return { custom_id: line.custom_id, model: line.model, kind: line.fate, reply: reply(line.model, line.body, line.candidate) };
      }
      if (line.fate === "expired") stats.expiredLines++;
      else stats.erroredLines++;
      return { custom_id: line.custom_id, model: line.model, kind: line.fate };
    });
    if (batch.wire === "openai") writeOpenAIFiles(batch);
  }

  function poll(batch) {
    stats.polls++;
    if (batch.phase === "ended") return;
    batch.polls++;
    if (batch.phase === "cancelling" || batch.polls >= pollsToEnd) finish(batch);
  }

  function count(batch, kinds) {
    return (batch.outcomes ?? []).filter((o) => kinds.includes(o.kind)).length;
  }

  // -------------------------------------------------------------------------------------------
  // OpenAI: files and batches.

  function writeOpenAIFiles(batch) {
    const out = [];
    const err = [];
    for (const o of batch.outcomes ?? []) {
      const id = `batch_req_fake${nextId++}`;
      const request_id = `req_fake${nextId++}`;
      if (o.kind === "ok" || o.kind === "malformed") {
        const body = {
          id: `chatcmpl-fake${nextId++}`,
          object: "chat.completion",
          created: batch.createdAt,
          model: o.model,
          choices: [{ index: 0, message: { role: "assistant", content: o.reply.text }, logprobs: null, finish_reason: "stop" }],
          usage: { prompt_tokens: o.reply.inputTokens, completion_tokens: o.reply.outputTokens, total_tokens: o.reply.inputTokens + o.reply.outputTokens },
        };
        const line = JSON.stringify({ id, custom_id: o.custom_id, response: { status_code: 200, request_id, body }, error: null });
        out.push(o.kind === "malformed" ? line.slice(0, line.indexOf('"body"') + 12) : line);
      } else if (o.kind === "error500" || o.kind === "error400") {
        const body = o.kind === "error500" ? openaiError(SERVER_ERROR, "server_error") : openaiError("Invalid value for 'temperature'");
        err.push(JSON.stringify({ id, custom_id: o.custom_id, response: { status_code: o.kind === "error500" ? 500 : 400, request_id, body }, error: null }));
      } else if (o.kind === "expired") {
        const error = { code: "batch_expired", message: "This request could not be executed before the completion window expired." };
        err.push(JSON.stringify({ id, custom_id: o.custom_id, response: null, error }));
      }
    }
    batch.outputFileId = out.length ? storeFile(out.join("\n") + "\n") : null;
    batch.errorFileId = err.length ? storeFile(err.join("\n") + "\n") : null;
  }

  function storeFile(content) {
    const id = `file-fake${nextId++}`;
    files.set(id, content);
    return id;
  }

  function openAIStatus(batch) {
    if (batch.phase === "running") return batch.polls === 0 ? "validating" : "in_progress";
    if (batch.phase === "cancelling") return "cancelling";
    if (batch.failReason) return "failed";
    if (batch.cancelled) return "cancelled";
    return count(batch, ["expired"]) ? "expired" : "completed";
  }

  function openAIBatch(batch) {
    const status = openAIStatus(batch);
    const ended = batch.phase === "ended";
    return {
      id: batch.id,
      object: "batch",
      endpoint: "/v1/chat/completions",
      errors: batch.failReason ? { object: "list", data: [{ code: "invalid_request", message: batch.failReason, param: null, line: 1 }] } : null,
      input_file_id: batch.inputFileId,
      completion_window: "24h",
      status,
      output_file_id: batch.outputFileId ?? null,
      error_file_id: batch.errorFileId ?? null,
      created_at: batch.createdAt,
      in_progress_at: batch.polls > 0 ? batch.createdAt : null,
      expires_at: batch.createdAt + 86400,
      completed_at: status === "completed" ? batch.createdAt : null,
      failed_at: status === "failed" ? batch.createdAt : null,
      expired_at: status === "expired" ? batch.createdAt : null,
      cancelled_at: status === "cancelled" ? batch.createdAt : null,
      request_counts: {
        total: batch.failReason ? 0 : batch.lines.length,
        completed: count(batch, ["ok", "malformed"]),
        failed: ended ? count(batch, ["error500", "error400", "expired"]) : 0,
      },
      metadata: batch.metadata ?? null,
    };
  }

  async function uploadFile(req, res) {
    const raw = await readBody(req);
    if (raw === null) return sendJson(res, 413, openaiError("File too large."));
    let form;
    try {
      form = await new Request("http://fake/", { method: "POST", headers: { "content-type": String(req.headers["content-type"] ?? "") }, body: raw }).formData();
    } catch {
      return sendJson(res, 400, openaiError("Expected a multipart/form-data body with 'file' and 'purpose'."));
    }
    const file = form.get("file");
    if (form.get("purpose") !== "batch" || typeof file === "string" || !file) {
      return sendJson(res, 400, openaiError("'purpose' must be 'batch' and 'file' must be a file."));
    }
    const content = await file.text();
    const id = storeFile(content);
    sendJson(res, 200, { id, object: "file", bytes: Buffer.byteLength(content), created_at: Math.floor(Date.now() / 1000), filename: file.name, purpose: "batch", status: "processed" });
  }

  /** Validation that real OpenAI does after accepting the batch: a bad file fails the batch. */
  function parseInputFile(content) {
    const lines = [];
    const ids = new Set();
    for (const [i, raw] of content.split("\n").entries()) {
      if (!raw.trim()) continue;
      let l;
      try {
        l = JSON.parse(raw);
      } catch {
        return { lines, failReason: `Line ${i + 1} is not valid JSON.` };
      }
      if (typeof l?.custom_id !== "string" || ids.has(l.custom_id)) return { lines, failReason: `Line ${i + 1}: custom_id is missing or not unique.` };
      if (l.method !== "POST" || l.url !== "/v1/chat/completions" || !Array.isArray(l.body?.messages)) {
        return { lines, failReason: `Line ${i + 1}: expected POST /v1/chat/completions with a body that has messages.` };
      }
      ids.add(l.custom_id);
      lines.push(toLine(l.custom_id, l.body));
    }
    if (lines.length === 0) return { lines, failReason: "The input file is empty." };
    return { lines, failReason: lines.some((l) => l.model.startsWith("batchdead-")) ? "The batch could not be processed (batchdead- model)." : null };
  }

  async function createOpenAIBatch(req, res) {
    const raw = await readBody(req);
    let body;
    try {
      body = JSON.parse(raw?.toString("utf8") ?? "");
    } catch {
      return sendJson(res, 400, openaiError("We could not parse the JSON body of your request."));
    }
    const content = files.get(body?.input_file_id);
    if (content === undefined) return sendJson(res, 400, openaiError(`Invalid 'input_file_id': '${body?.input_file_id}'.`));
    if (body.endpoint !== "/v1/chat/completions" || body.completion_window !== "24h") {
      return sendJson(res, 400, openaiError("endpoint must be /v1/chat/completions and completion_window 24h."));
    }
    const models = parseModels(content);
    const fault = createFault(models);
    if (fault) return sendCreateFault(res, fault, "openai");
    const { lines, failReason } = parseInputFile(content);
    const batch = register("openai", lines, { failReason, inputFileId: body.input_file_id, metadata: body.metadata ?? null });
    sendJson(res, 200, openAIBatch(batch));
  }

  /** Models named in a JSONL input file, for create-time faults decided before validation. */
  function parseModels(content) {
    return content.split("\n").flatMap((raw) => {
      try {
        const model = JSON.parse(raw)?.body?.model;
        return typeof model === "string" ? [{ model }] : [];
      } catch {
        return [];
      }
    });
  }

  function sendCreateFault(res, fault, wire) {
    const body =
      fault.status === 429
        ? wire === "openai"
          ? openaiError("Rate limit reached for batch creation.", "requests", "rate_limit_exceeded")
          : anthropicError("rate_limit_error", "Number of batch requests has exceeded your rate limit.")
        : wire === "openai"
          ? openaiError(SERVER_ERROR, "server_error")
          : anthropicError("api_error", "Internal server error");
    sendJson(res, fault.status, body, { "retry-after": fault.retryAfter });
  }

  function findBatch(res, id, wire) {
    const batch = batches.get(id);
    if (batch?.wire === wire) return batch;
    if (wire === "openai") sendJson(res, 404, openaiError(`No batch found with id '${id}'.`, "invalid_request_error", "not_found"));
    else sendJson(res, 404, anthropicError("not_found_error", `Message batch ${id} not found.`));
    return null;
  }

  // -------------------------------------------------------------------------------------------
  // Anthropic: message batches.

  function anthropicBatch(batch) {
    const ended = batch.phase === "ended";
    const time = new Date(batch.createdAt * 1000).toISOString();
    return {
      id: batch.id,
      type: "message_batch",
      processing_status: ended ? "ended" : batch.phase === "cancelling" ? "canceling" : "in_progress",
      request_counts: {
        processing: ended ? 0 : batch.lines.length,
        succeeded: count(batch, ["ok", "malformed"]),
        errored: count(batch, ["error500", "error400"]),
        canceled: count(batch, ["canceled"]),
        expired: count(batch, ["expired"]),
      },
      ended_at: ended ? time : null,
      created_at: time,
      expires_at: new Date((batch.createdAt + 86400) * 1000).toISOString(),
      archived_at: null,
      cancel_initiated_at: batch.phase === "cancelling" || batch.cancelled ? time : null,
      results_url: ended ? batch.resultsUrl : null,
    };
  }

  async function createAnthropicBatch(req, res) {
    const raw = await readBody(req);
    let body;
    try {
      body = JSON.parse(raw?.toString("utf8") ?? "");
    } catch {
      return sendJson(res, 400, anthropicError("invalid_request_error", "There was an issue with your request body."));
    }
    const requests = body?.requests;
    if (!Array.isArray(requests) || requests.length === 0) return sendJson(res, 400, anthropicError("invalid_request_error", "requests: Field required"));
    const ids = new Set();
    for (const [i, r] of requests.entries()) {
      const bad =
        typeof r?.custom_id !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(r.custom_id) ? "custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"
        : ids.has(r.custom_id) ? "custom_id: must be unique within the batch"
        : !Array.isArray(r.params?.messages) ? "params.messages: Field required"
        : !Number.isInteger(r.params?.max_tokens) ? "params.max_tokens: Field required"
        : null;
      if (bad) return sendJson(res, 400, anthropicError("invalid_request_error", `requests.${i}.${bad}`));
      ids.add(r.custom_id);
    }
    const fault = createFault(requests.map((r) => ({ model: String(r.params.model ?? "") })));
    if (fault) return sendCreateFault(res, fault, "anthropic");
    const lines = requests.map((r) => toLine(r.custom_id, r.params));
    const batch = register("anthropic", lines);
    batch.resultsUrl = `http://${req.headers.host}/v1/messages/batches/${batch.id}/results`;
    sendJson(res, 200, anthropicBatch(batch));
  }

  function anthropicResults(res, batch) {
    if (batch.phase !== "ended") return sendJson(res, 400, anthropicError("invalid_request_error", `Message batch ${batch.id} has not yet ended.`));
    const lines = (batch.outcomes ?? []).map((o) => {
      let result;
      if (o.kind === "ok" || o.kind === "malformed") {
        const message = {
          id: `msg_fake${nextId++}`,
          type: "message",
          role: "assistant",
          model: o.model,
          content: [{ type: "text", text: o.reply.text }],
          stop_reason: "end_turn",
          stop_sequence: null,
          usage: { input_tokens: o.reply.inputTokens, output_tokens: o.reply.outputTokens },
        };
        result = { type: "succeeded", message };
      } else if (o.kind === "error500") result = { type: "errored", error: anthropicError("api_error", "Internal server error") };
      else if (o.kind === "error400") result = { type: "errored", error: anthropicError("invalid_request_error", "temperature: range: 0..1") };
      else result = { type: o.kind };
      const line = JSON.stringify({ custom_id: o.custom_id, result });
      return o.kind === "malformed" ? line.slice(0, line.indexOf('"message"') + 20) : line;
    });
    const payload = lines.join("\n") + "\n";
    res.writeHead(200, { "content-type": "application/binary", "content-length": Buffer.byteLength(payload) });
    res.end(payload);
  }

  // -------------------------------------------------------------------------------------------
  // Routing.

  const openaiAuthed = (req) => /^Bearer\s+\S/i.test(String(req.headers.authorization ?? "").trim());
  const anthropicAuthed = (req) => Boolean(String(req.headers["x-api-key"] ?? "").trim());

  /** @returns {((req: any, res: any) => unknown) | null} the handler for a batch route, or null */
  function route(method, path) {
    let m;
    /** @type {((req: any, res: any) => unknown) | null} */
    let handler = null;
    let wire = "openai";
    if (method === "POST" && path === "/__batch/config") return configure;
    if (method === "POST" && path === "/v1/files") handler = uploadFile;
    else if (method === "GET" && (m = /^\/v1\/files\/([^/]+)\/content$/.exec(path))) {
      const id = decodeURIComponent(m[1]);
      handler = (_req, res) => {
        const content = files.get(id);
        if (content === undefined) return sendJson(res, 404, openaiError(`No such File object: ${id}`));
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": Buffer.byteLength(content) });
        res.end(content);
      };
    } else if (method === "POST" && path === "/v1/batches") handler = createOpenAIBatch;
    else if ((m = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path)) && (method === "GET") === !m[2]) {
      const [id, cancel] = [decodeURIComponent(m[1]), Boolean(m[2])];
      handler = (_req, res) => {
        const batch = findBatch(res, id, "openai");
        if (!batch) return;
        if (cancel) {
          if (batch.phase === "running") batch.phase = "cancelling";
        } else poll(batch);
        sendJson(res, 200, openAIBatch(batch));
      };
    } else if (method === "POST" && path === "/v1/messages/batches") [handler, wire] = [createAnthropicBatch, "anthropic"];
    else if ((m = /^\/v1\/messages\/batches\/([^/]+)(\/cancel|\/results)?$/.exec(path)) && (method === "POST") === (m[2] === "/cancel")) {
      const [id, tail] = [decodeURIComponent(m[1]), m[2]];
      wire = "anthropic";
      handler = (_req, res) => {
        const batch = findBatch(res, id, "anthropic");
        if (!batch) return;
        if (tail === "/results") return anthropicResults(res, batch);
        if (tail === "/cancel") {
          if (batch.phase === "running") batch.phase = "cancelling";
        } else poll(batch);
        sendJson(res, 200, anthropicBatch(batch));
      };
    }
    if (!handler) return null;
    const inner = handler;
    return (req, res) => {
      if (wire === "openai" && !openaiAuthed(req)) return sendJson(res, 401, openaiError("You didn't provide an API key.", "invalid_request_error", "invalid_api_key"));
      if (wire === "anthropic" && !anthropicAuthed(req)) return sendJson(res, 401, anthropicError("authentication_error", "invalid x-api-key"));
      return inner(req, res);
    };
  }

  /** `POST /__batch/config {"pollsToEnd": n}`: at which status poll a batch ends (reset restores 2). */
  async function configure(req, res) {
    const raw = await readBody(req);
    try {
      const patch = JSON.parse(raw?.toString("utf8") || "{}");
      if (patch.pollsToEnd !== undefined) {
        if (!Number.isInteger(patch.pollsToEnd) || patch.pollsToEnd < 1) throw new TypeError("pollsToEnd must be an integer ≥ 1");
        pollsToEnd = patch.pollsToEnd;
      }
      sendJson(res, 200, { pollsToEnd });
    } catch (err) {
      sendJson(res, 400, openaiError(String(err.message ?? err)));
    }
  }

  return {
    route,
    reset,
    /** @returns {BatchStats} */
    stats: () => structuredClone(stats),
  };
}
