// A fake OpenAI-compatible chat-completions server on loopback, which also answers Anthropic's
// Messages API (`POST /v1/messages`) in Anthropic's own wire format.
//
// It speaks the real wire format (success bodies, error bodies, status codes, retry-after) so the
// Worker's provider client is exercised exactly as it would be against api.openai.com, but the
// answers are replayed from recorded GSM8K solutions, so tests and benchmarks are deterministic
// and free. It can also misbehave on purpose: by model name (deterministic, for tests) or by
// seeded probability (chaos, for benchmarks).
//
// Used two ways:
//   - imported by vitest.config.ts:  const fake = await startFakeOpenAI({ port: 0 }); fake.url
//   - as a CLI:  node test/fake-openai.mjs --port 8790 --latency 200 --p429 0.1 --p500 0.05
//
// Node built-ins only: it must load before any dependency is installed or bundled.

import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createFakeBatch, readBody, sendJson } from "./fake-batch.mjs";

const DEFAULT_RECORDINGS = new URL("../examples/gsm8k/recordings.json", import.meta.url);
const GENERIC_ANSWER = "Let me think step by step.\nThe answer is 42.\nA: 42";
const MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * @typedef {{ p429?: number, p500?: number, pHang?: number, pMalformed?: number }} Faults
 * @typedef {{ model: string, text: string, is_correct: boolean }} Recording
 * @typedef {{ question: string, norm: string, recordings: Recording[] }} Entry
 * @typedef {{
 *   requests: number, ok: number, byStatus: Record<string, number>, hangs: number,
 *   malformed: number, unmatched: number, byModel: Record<string, number>
 * }} Stats
 * @typedef {{
 *   url: string, port: number, close(): Promise<void>, stats(): Stats, reset(): void,
 *   configure(patch: { latencyMs?: number, faults?: Faults, seed?: number }): object
 * }} FakeOpenAI
 */

// ---------------------------------------------------------------------------------------------
// OpenAI error bodies, copied from what the real API returns so clients parse them the same way.

const ERRORS = {
  unauthorized: () =>
    openaiError(
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      "invalid_request_error",
      null,
      "invalid_api_key",
    ),
  rateLimited: (model) =>
    openaiError(
      `Rate limit reached for ${model} in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.`,
      "requests",
      null,
      "rate_limit_exceeded",
    ),
  serverError: () =>
    openaiError("The server had an error while processing your request.", "server_error", null, null),
  badTemperature: () =>
    openaiError("Invalid value for 'temperature'", "invalid_request_error", "temperature", null),
};

/** Anthropic's error envelope: `{"type":"error","error":{"type","message"}}`. */
function anthropicError(type, message) {
  return { type: "error", error: { type, message } };
}

/** The same faults as ERRORS, as Anthropic reports them. */
const ANTHROPIC_ERRORS = {
  unauthorized: () => anthropicError("authentication_error", "invalid x-api-key"),
  rateLimited: () => anthropicError("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
  serverError: () => anthropicError("api_error", "Internal server error"),
  badTemperature: () => anthropicError("invalid_request_error", "temperature: range: 0..1"),
};

/** @returns {{ error: { message: string, type: string, param: string | null, code: string | null } }} */
function openaiError(message, type, param, code) {
  return { error: { message, type, param, code } };
}

// ---------------------------------------------------------------------------------------------
// Recordings and question lookup.

/**
 * Prompts are built from templates that may re-quote or re-wrap the question, and the recorded
 * GSM8K text uses typographic apostrophes (Janet’s). Normalising both sides keeps a substring
 * match from failing on cosmetic differences.
 */
function normalize(text) {
  return text
    .normalize("NFKC")
    .replace(/[\u2018\u2019\u201A\u201B\u2032]/g, "'")
    .replace(/[\u201C\u201D\u201E\u201F\u2033]/g, '"')
    .replace(/\s+/g, " ")
    .trim();
}

/** @returns {Entry[]} longest question first, so a question that contains another wins. */
function loadRecordings(recordingsPath) {
  const source = recordingsPath ?? DEFAULT_RECORDINGS;
  let parsed;
  try {
    parsed = JSON.parse(readFileSync(source, "utf8"));
  } catch (err) {
    throw new Error(`fake-openai: cannot load recordings from ${source}: ${err.message}`);
  }
  return Object.entries(parsed)
    .filter(([, recs]) => Array.isArray(recs) && recs.length > 0)
    .map(([question, recordings]) => ({ question, norm: normalize(question), recordings }))
    .sort((a, b) => b.norm.length - a.norm.length);
}

/**
 * Exact match via a Map first (the common case when the prompt is just the question), then a
 * linear `includes` scan: ~1.3k questions against a ~1 KB prompt is microseconds.
 * @param {{ exact: Map<string, Entry>, entries: Entry[] }} index
 */
function findEntry(index, promptNorm) {
  return index.exact.get(promptNorm) ?? index.entries.find((e) => promptNorm.includes(e.norm));
}

function buildIndex(entries) {
  return { entries, exact: new Map(entries.map((e) => [e.norm, e])) };
}

/** Message content may be a string or an array of content parts ({type:"text", text}). */
function contentText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => (typeof part === "string" ? part : (part?.text ?? ""))).join("");
  }
  return "";
}

function lastUserText(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === "user") return contentText(messages[i].content);
  }
  return "";
}

/** x-winnow-candidate as an integer, or null when absent/garbage (then a counter is used). */
function candidateHeader(req) {
  const raw = req.headers["x-winnow-candidate"];
  if (raw === undefined) return null;
  const n = Number.parseInt(String(raw), 10);
  return Number.isFinite(n) ? n : null;
}

// ---------------------------------------------------------------------------------------------
// Judge mode: models named `judge-…` answer like an LLM grader, in the format the name asks
// for, so score parsing can be tested deterministically against the real wire format.

/**
 * The grader's reply for a `judge-…` model, or null for any other model.
 *   judge-7 / judge-7.5           → "7" / "7.5"
 *   judge-score-8-of-10           → reasoning, then "Score: 8/10"
 *   judge-rating-4-of-5           → "Rating: 4/5"
 *   judge-outof-8-of-10           → "I would give this response 8 out of 10."
 *   judge-json-9                  → '{"score": 9, "reason": "..."}' in a ```json fence
 *   judge-garbage                 → prose with no grade
 *   judge-echo                    → the last user message, verbatim (to see the rendered rubric)
 *   judge-flaky-500-<grade>       → one 500 per prompt (see modelFault), then "<grade>"
 * Unknown judge-… shapes answer like judge-garbage.
 */
export function judgeAnswer(model, prompt) {
  if (!model.startsWith("judge-")) return null;
  const spec = model.slice("judge-".length);
  let m;
  if (spec === "echo") return prompt;
  if ((m = /^(\d+(?:\.\d+)?)$/.exec(spec))) return m[1];
  if ((m = /^score-(\d+(?:\.\d+)?)-of-(\d+)$/.exec(spec)))
    return `The response answers the question and the steps are mostly correct.\n\nScore: ${m[1]}/${m[2]}`;
  if ((m = /^rating-(\d+(?:\.\d+)?)-of-(\d+)$/.exec(spec))) return `Rating: ${m[1]}/${m[2]}`;
  if ((m = /^outof-(\d+(?:\.\d+)?)-of-(\d+)$/.exec(spec))) return `I would give this response ${m[1]} out of ${m[2]}.`;
  if ((m = /^json-(\d+(?:\.\d+)?)$/.exec(spec)))
    return "```json\n" + JSON.stringify({ score: Number(m[1]), reason: "clear and correct" }) + "\n```";
  if ((m = /^flaky-500-(\d+(?:\.\d+)?)$/.exec(spec))) return m[1];
  return "This response is quite good overall, though it could be clearer in places.";
}

// ---------------------------------------------------------------------------------------------
// Structured output: OpenAI's `response_format` and Anthropic's forced tool call are answered
// with JSON derived from the recorded text, so a schema-shaped answer still carries the
// recording's solution.

/**
 * `{"reasoning": <text>, "answer": <number after "A:">}` (the properties the schema has of
 * those two; `answer` stays a string when the schema says so), else `{"text": <text>}`.
 */
export function structuredAnswer(text, schema) {
  const props = schema?.properties && typeof schema.properties === "object" ? schema.properties : {};
  if (!("reasoning" in props) && !("answer" in props)) return { text };
  const out = {};
  if ("reasoning" in props) out.reasoning = text;
  if ("answer" in props) {
    const m = /A:\s*\$?\s*(-?[\d,]*\.?\d+)/.exec(text);
    const raw = m ? m[1].replace(/,/g, "") : null;
    out.answer = props.answer?.type === "string" ? (raw ?? "") : raw === null ? null : Number(raw);
  }
  return out;
}

/** The tool an Anthropic request forces (`tool_choice: {type: "tool", name}`), or null. */
function forcedTool(body) {
  if (body.tool_choice?.type !== "tool" || !Array.isArray(body.tools)) return null;
  return body.tools.find((t) => t?.name === body.tool_choice.name) ?? null;
}

// ---------------------------------------------------------------------------------------------
// Seeded PRNG so chaos runs are reproducible from `seed`.

/** mulberry32: tiny, fast, good enough to pick faults. Returns a function yielding [0, 1). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One draw per request, split into bands, so the fault sequence depends only on the seed and
 * the request order, not on which probabilities are zero.
 * @param {Faults} faults
 * @returns {"429" | "500" | "hang" | "malformed" | null}
 */
function drawChaos(random, faults) {
  const r = random();
  let edge = 0;
  for (const [key, kind] of [["p429", "429"], ["p500", "500"], ["pHang", "hang"], ["pMalformed", "malformed"]]) {
    edge += faults[key] ?? 0;
    if (r < edge) return /** @type {any} */ (kind);
  }
  return null;
}

/** Asks of one slot that a chaos-… model may fail; the Worker's MAX_ATTEMPTS is 4. */
const CHAOS_FAULTY_ASKS = 3;

/** FNV-1a then a murmur3 finaliser: a string to [0, 1), the same in every process. */
function hashUnit(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

// ---------------------------------------------------------------------------------------------
// Config validation (shared by startFakeOpenAI, /__config and the CLI).

function checkProbability(name, value) {
  if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
    throw new TypeError(`faults.${name} must be a number in [0, 1], got ${JSON.stringify(value)}`);
  }
}

/** @returns {Faults} */
function validateFaults(faults) {
  if (faults === null || typeof faults !== "object" || Array.isArray(faults)) {
    throw new TypeError("faults must be an object like { p429, p500, pHang, pMalformed }");
  }
  const out = {};
  for (const key of ["p429", "p500", "pHang", "pMalformed"]) {
    if (faults[key] === undefined) continue;
    checkProbability(key, faults[key]);
    out[key] = faults[key];
  }
  return out;
}

function validateLatency(latencyMs) {
  if (typeof latencyMs !== "number" || !(latencyMs >= 0) || !Number.isFinite(latencyMs)) {
    throw new TypeError(`latencyMs must be a non-negative number, got ${JSON.stringify(latencyMs)}`);
  }
  return latencyMs;
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers.

/** The request body as text, or null when it is too large. */
async function readText(req) {
  const body = await readBody(req, MAX_BODY_BYTES);
  return body === null ? null : body.toString("utf8");
}

function hasBearer(req) {
  const auth = req.headers.authorization ?? "";
  const match = /^Bearer\s+(\S.*)$/i.exec(auth.trim());
  return Boolean(match && match[1].trim());
}

function tokensOf(chars) {
  return Math.ceil(chars / 4);
}

function freshStats() {
  return { requests: 0, ok: 0, byStatus: {}, hangs: 0, malformed: 0, unmatched: 0, byModel: {}, tokensByModel: {}, limitedByModel: {} };
}

// ---------------------------------------------------------------------------------------------
// The server.

/**
 * Start the fake on loopback.
 * @param {{ port?: number, host?: string, latencyMs?: number, faults?: Faults, seed?: number,
 *           recordingsPath?: string | URL, keepAlive?: boolean }} [options]
 *   keepAlive: when true the server keeps the process alive (CLI mode). Default false, because
 *   vitest evaluates its config in the main process and a ref'd server would stop it exiting.
 * @returns {Promise<FakeOpenAI>}
 */
export async function startFakeOpenAI({
  port = 0,
  host = "127.0.0.1",
  latencyMs = 0,
  faults = {},
  seed = 1,
  recordingsPath,
  keepAlive = false,
} = {}) {
  const index = buildIndex(loadRecordings(recordingsPath));
  const config = { latencyMs: validateLatency(latencyMs), faults: validateFaults(faults), seed };

  // Mutable state; everything here except `nextId` is cleared by reset().
  let random = mulberry32(seed);
  let stats = freshStats();
  /** Per-question counter used when no x-winnow-candidate header is sent. */
  let counters = new Map();
  /** Requests in flight per `concurrency-<n>-…` model. */
  const inFlight = new Map();
  /** Keys that already had their one flaky failure. */
  let flakySeen = new Set();
  /** chaos-…: how many times each (model, prompt, candidate) was asked before. */
  let chaosAsked = new Map();
  let nextId = 1;
  /** Latency timers, cleared on close so a pending one cannot fire into a dead server. */
  const timers = new Set();

  /** Tally a response; `usable` is false for the truncated 200 so `ok` counts real answers only. */
  function count(status, usable = status === 200) {
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    if (usable) stats.ok++;
  }

  /** Tokens reported in successful responses, per model: what a client should bill. */
  function tallyTokens(model, input, output) {
    const t = (stats.tokensByModel[model] ??= { calls: 0, input: 0, output: 0 });
    t.calls++;
    t.input += input;
    t.output += output;
  }

  function later(fn) {
    if (config.latencyMs <= 0) return fn();
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, config.latencyMs);
    if (!keepAlive) t.unref();
    timers.add(t);
  }

  function reset() {
    stats = freshStats();
    counters = new Map();
    flakySeen = new Set();
    chaosAsked = new Map();
    random = mulberry32(config.seed);
    batch.reset();
  }

  function configure(patch) {
    if (patch === null || typeof patch !== "object") throw new TypeError("config must be a JSON object");
    // Validate everything before applying anything, so a bad patch changes nothing.
    const next = { ...config };
    if (patch.latencyMs !== undefined) next.latencyMs = validateLatency(patch.latencyMs);
    // faults replaces the whole set, so `{ faults: {} }` turns chaos off.
    if (patch.faults !== undefined) next.faults = validateFaults(patch.faults);
    if (patch.seed !== undefined) {
      if (!Number.isInteger(patch.seed)) throw new TypeError("seed must be an integer");
      next.seed = patch.seed;
    }
    const reseed = next.seed !== config.seed;
    Object.assign(config, next);
    if (reseed) random = mulberry32(config.seed);
    return { ...config, faults: { ...config.faults } };
  }

  /** Pick the assistant text for a prompt; advances the per-question counter only on success. */
  function answerFor(entry, candidate) {
    if (!entry) return { text: GENERIC_ANSWER, recordingIndex: null, commit() {} };
    const n = entry.recordings.length;
    const seq = candidate ?? counters.get(entry.question) ?? 0;
    const recordingIndex = ((seq % n) + n) % n;
    return {
      text: entry.recordings[recordingIndex].text,
      recordingIndex,
      commit() {
        if (candidate === null) counters.set(entry.question, (counters.get(entry.question) ?? 0) + 1);
      },
    };
  }

  /**
   * chaos-<name> (e.g. chaos-gsm8k): a provider that misbehaves like a busy real one, but
   * reproducibly. Each request draws from a hash of (model, prompt, candidate, how many times
   * that was asked before), so whatever the order or timing of calls, the n-th ask of a slot
   * gets the same outcome: ~10% 429 (retry-after: 1), ~5% 500, ~2% hang, ~1% truncated 200,
   * otherwise the recorded answer, as a normal model. Only the first CHAOS_FAULTY_ASKS asks of
   * a slot can fault: the Worker gives a slot 4 attempts, and a chaos run must be comparable
   * with a fault-free one, so no slot may run out of them.
   */
  function chaosFault(flakyKey) {
    const asked = chaosAsked.get(flakyKey) ?? 0;
    chaosAsked.set(flakyKey, asked + 1);
    if (asked >= CHAOS_FAULTY_ASKS) return null;
    const r = hashUnit(`${flakyKey}\u0000${asked}`);
    return r < 0.1 ? "429" : r < 0.15 ? "500" : r < 0.17 ? "hang" : r < 0.18 ? "malformed" : null;
  }

  /** Model-name faults. Returns the fault kind, or null for a normal answer. */
  function modelFault(model, flakyKey) {
    if (model.startsWith("chaos-")) return chaosFault(flakyKey);
    // judge-flaky-500-<grade>: one 500 per prompt, then the grade (for judge retry tests).
    if (model.startsWith("judge-flaky-500-")) {
      if (flakySeen.has(flakyKey)) return null;
      flakySeen.add(flakyKey);
      return "500";
    }
    switch (model) {
      case "fault-429":
        return "429";
      case "fault-500":
        return "500";
      case "fault-malformed":
        return "malformed";
      case "fault-hang":
        return "hang";
      case "fault-400":
        return "400";
      case "flaky-429":
      case "flaky-500": {
        if (flakySeen.has(flakyKey)) return null;
        flakySeen.add(flakyKey);
        return model === "flaky-429" ? "429" : "500";
      }
      default:
        return null;
    }
  }

  /** `wire` is "openai" (chat completions) or "anthropic" (Messages API). */
  async function handleChatCompletions(req, res, wire = "openai") {
    const errors = wire === "anthropic" ? ANTHROPIC_ERRORS : ERRORS;
    stats.requests++;
    const authed = wire === "anthropic" ? Boolean(String(req.headers["x-api-key"] ?? "").trim()) : hasBearer(req);
    if (!authed) {
      count(401);
      return sendJson(res, 401, errors.unauthorized());
    }

    const raw = await readText(req);
    let body;
    try {
      body = raw === null ? null : JSON.parse(raw);
    } catch {
      body = null;
    }
    if (raw === null) {
      count(413);
      return sendJson(res, 413, openaiError("Request body too large.", "invalid_request_error", null, null));
    }
    if (wire === "anthropic" && body && typeof body === "object" && Array.isArray(body.messages) && !Number.isInteger(body.max_tokens)) {
      count(400);
      return sendJson(res, 400, anthropicError("invalid_request_error", "max_tokens: Field required"));
    }
    if (body === null || typeof body !== "object" || !Array.isArray(body.messages)) {
      count(400);
      if (wire === "anthropic") return sendJson(res, 400, anthropicError("invalid_request_error", body === null ? "There was an issue with your request body." : "messages: Field required"));
      const message = body === null
        ? "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)"
        : "Missing required parameter: 'messages'.";
      return sendJson(res, 400, openaiError(message, "invalid_request_error", body === null ? null : "messages", null));
    }

    const model = typeof body.model === "string" ? body.model : "";
    stats.byModel[model] = (stats.byModel[model] ?? 0) + 1;

    const prompt = lastUserText(body.messages);
    const promptNorm = normalize(prompt);
    const entry = findEntry(index, promptNorm);
    if (!entry) stats.unmatched++;
    const candidate = candidateHeader(req);
    const flakyKey = `${model}\u0000${entry ? entry.question : promptNorm}\u0000${candidate ?? "-"}`;

    // Decide now, synchronously, so the PRNG is consumed in arrival order whatever the latency.
    // Model faults take precedence; chaos still draws for every request to keep the sequence stable.
    const chaos = drawChaos(random, config.faults);
    const fault = modelFault(model, flakyKey) ?? chaos;

    // concurrency-<n>-…: a provider that allows n requests in flight per model and answers the
    // rest 429 (retry-after: 1); each answer takes 40 ms. For testing that clients adapt their
    // concurrency instead of storming a rate limit.
    const cap = /^concurrency-(\d+)-/.exec(model);
    if (cap && !fault) {
      const busy = inFlight.get(model) ?? 0;
      if (busy >= Number(cap[1])) {
        count(429);
        stats.limitedByModel[model] = (stats.limitedByModel[model] ?? 0) + 1;
        return sendJson(res, 429, errors.rateLimited(model), { "retry-after": "1" });
      }
      inFlight.set(model, busy + 1);
      await new Promise((r) => setTimeout(r, 40));
      inFlight.set(model, (inFlight.get(model) ?? 1) - 1);
    }

    if (fault === "hang") {
      // Hold the socket open; the client's abort or server.close() ends it.
      stats.hangs++;
      return;
    }

    later(() => {
      if (res.destroyed) return; // client gave up while we were "thinking"
      switch (fault) {
        case "429":
          count(429);
          return sendJson(res, 429, errors.rateLimited(model), { "retry-after": "1" });
        case "500":
          count(500);
          return sendJson(res, 500, errors.serverError());
        case "400":
          count(400);
          return sendJson(res, 400, errors.badTemperature());
        case "malformed":
          return sendMalformed(res);
        default: {
          const judged = judgeAnswer(model, prompt);
          const answer = judged === null ? answerFor(entry, candidate) : { text: judged, recordingIndex: null, commit() {} };
          if (wire === "anthropic") {
            const tool = forcedTool(body);
            return sendAnthropicMessage(res, body, model, answer, tool && { name: tool.name, input: structuredAnswer(answer.text, tool.input_schema) });
          }
          const format = body.response_format;
          if (format?.type === "json_object" || format?.type === "json_schema")
            return sendCompletion(res, body, model, { ...answer, text: JSON.stringify(structuredAnswer(answer.text, format.json_schema?.schema)) });
          return sendCompletion(res, body, model, answer);
        }
      }
    });
  }

  /** A 200 whose body is cut off mid-JSON, like a proxy dropping the connection. */
  function sendMalformed(res) {
    stats.malformed++;
    count(200, false);
    const payload = `{"id":"chatcmpl-${nextId++}","choices":[{"mess`;
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
    res.end(payload);
  }

  function sendCompletion(res, body, model, answer) {
    const promptChars = body.messages.reduce((sum, m) => sum + contentText(m?.content).length, 0);
    const promptTokens = tokensOf(promptChars);
    const completionTokens = tokensOf(answer.text.length);
    answer.commit();
    count(200);
    tallyTokens(model, promptTokens, completionTokens);
    sendJson(
      res,
      200,
      {
        id: `chatcmpl-${nextId++}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: answer.text },
            logprobs: null,
            finish_reason: "stop",
          },
        ],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      },
      // Not an OpenAI header; handy when debugging which recording a test received.
      answer.recordingIndex === null ? {} : { "x-fake-recording": String(answer.recordingIndex) },
    );
  }

  /** `toolUse` ({name, input}): the forced tool call that answers a `tool_choice` request. */
  function sendAnthropicMessage(res, body, model, answer, toolUse = null) {
    const promptChars = body.messages.reduce((sum, m) => sum + contentText(m?.content).length, 0) + contentText(body.system ?? "").length;
    const id = nextId++;
    answer.commit();
    count(200);
    tallyTokens(model, tokensOf(promptChars), tokensOf(toolUse ? JSON.stringify(toolUse.input).length : answer.text.length));
    sendJson(res, 200, {
      id: `msg_fake${id}`,
      type: "message",
      role: "assistant",
      model,
      content: toolUse ? [{ type: "tool_use", id: `toolu_fake${id}`, ...toolUse }] : [{ type: "text", text: answer.text }],
      stop_reason: toolUse ? "tool_use" : "end_turn",
      stop_sequence: null,
      usage: { input_tokens: tokensOf(promptChars), output_tokens: tokensOf(toolUse ? JSON.stringify(toolUse.input).length : answer.text.length) },
    });
  }

  async function handleConfig(req, res) {
    const raw = await readText(req);
    try {
      const patch = raw ? JSON.parse(raw) : {};
      sendJson(res, 200, configure(patch));
    } catch (err) {
      sendJson(res, 400, openaiError(String(err.message ?? err), "invalid_request_error", null, null));
    }
  }

  // The batch endpoints (fake-batch.mjs) answer each line exactly like a chat call.
  const batch = createFakeBatch({
    reply(model, body, candidate) {
      const prompt = lastUserText(body.messages);
      const judged = judgeAnswer(model, prompt);
      const answer = judged === null ? answerFor(findEntry(index, normalize(prompt)), candidate) : { text: judged, commit() {} };
      answer.commit();
      const promptChars = body.messages.reduce((sum, m) => sum + contentText(m?.content).length, 0) + contentText(body.system ?? "").length;
      return { text: answer.text, inputTokens: tokensOf(promptChars), outputTokens: tokensOf(answer.text.length) };
    },
  });

  /** @type {Record<string, (req: any, res: any) => unknown>} */
  const routes = {
    "POST /v1/chat/completions": (req, res) => handleChatCompletions(req, res, "openai"),
    "POST /v1/messages": (req, res) => handleChatCompletions(req, res, "anthropic"),
    "GET /v1/models": (_req, res) =>
      sendJson(res, 200, {
        object: "list",
        data: [{ id: "gsm8k-replay", object: "model", created: 0, owned_by: "fake" }],
      }),
    "GET /__stats": (_req, res) => sendJson(res, 200, { ...stats, batch: batch.stats() }),
    "POST /__reset": (_req, res) => {
      reset();
      sendJson(res, 200, { ok: true });
    },
    "POST /__config": handleConfig,
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://fake").pathname.replace(/\/+$/, "") || "/";
    const handler = routes[`${req.method} ${path}`] ?? batch.route(req.method, path);
    const run = handler
      ? handler(req, res)
      : sendJson(res, 404, openaiError(`Unknown request URL: ${req.method} ${path}.`, "invalid_request_error", null, "unknown_url"));
    Promise.resolve(run).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, openaiError(String(err?.message ?? err), "server_error", null, null));
      else res.destroy();
    });
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(undefined);
    });
  });
  if (!keepAlive) {
    // unref() covers only the listening handle; accepted keep-alive sockets would still hold the
    // process open (for up to keepAliveTimeout) after the last request, so unref those too.
    server.unref();
    server.on("connection", (socket) => socket.unref());
  }

  const address = /** @type {import("node:net").AddressInfo} */ (server.address());
  const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;

  let closing = null;
  function close() {
    closing ??= new Promise((resolve) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.close(() => resolve(undefined));
      // Hung requests and idle keep-alive sockets would otherwise hold close() open forever.
      if (typeof server.closeAllConnections === "function") server.closeAllConnections();
    });
    return closing;
  }

  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    close,
    stats: () => ({ ...structuredClone(stats), batch: batch.stats() }),
    reset,
    configure,
  };
}

// ---------------------------------------------------------------------------------------------
// CLI.

function isMain() {
  return Boolean(process.argv[1]) && import.meta.url === pathToFileURL(process.argv[1]).href;
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8790" },
      host: { type: "string", default: "127.0.0.1" },
      latency: { type: "string", default: "0" },
      p429: { type: "string" },
      p500: { type: "string" },
      pHang: { type: "string" },
      "p-hang": { type: "string" },
      pMalformed: { type: "string" },
      "p-malformed": { type: "string" },
      seed: { type: "string", default: "1" },
      recordings: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(
      "usage: node test/fake-openai.mjs [--port 8790] [--host 127.0.0.1] [--latency ms]\n" +
        "       [--p429 f] [--p500 f] [--p-hang f] [--p-malformed f] [--seed n] [--recordings file]\n",
    );
    return;
  }
  const num = (v) => (v === undefined ? undefined : Number(v));
  const faults = Object.fromEntries(
    Object.entries({
      p429: num(values.p429),
      p500: num(values.p500),
      pHang: num(values.pHang ?? values["p-hang"]),
      pMalformed: num(values.pMalformed ?? values["p-malformed"]),
    }).filter(([, v]) => v !== undefined),
  );
  const fake = await startFakeOpenAI({
    port: Number(values.port),
    host: values.host,
    latencyMs: Number(values.latency),
    faults,
    seed: Number(values.seed),
    recordingsPath: values.recordings,
    keepAlive: true,
  });
  process.stdout.write(`fake-openai listening on ${fake.url}\n`);
  const stop = () => fake.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (isMain()) {
  main().catch((err) => {
    process.stderr.write(`fake-openai: ${err.message}\n`);
    process.exit(1);
  });
}
