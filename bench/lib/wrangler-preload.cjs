// Preloaded into `wrangler dev` by the benches (`node --require bench/lib/wrangler-preload.cjs
// wrangler.js dev …`) to make the local runtime closer to production, where both of these hold:
//
// - WINNOW_NO_INSPECTOR=1: no DevTools inspector. `wrangler dev` always attaches its inspector
//   proxy to the Worker and sends it `Network.enable`, after which workerd copies every
//   subrequest's response body (each D1 result, each R2 object read) base64-encoded into the
//   inspector socket. A release compile reads gigabytes from R2, so the Worker's process holds
//   and encodes all of it (an RSS and CPU cost production does not have), and long CPU-bound
//   invocations stall. The CLI has no switch for it; the programmatic API does (`dev.inspector:
//   false`), so this patches the CLI's resolver to answer the same.
// - WINNOW_V8_FLAGS="--trace-gc …": V8 flags for workerd, which takes them only from its config
//   (Config.v8Flags); Miniflare, which writes that config, has no option for them, so this patches
//   the function that serializes it. They apply to every isolate in the process.
const Module = require("node:module");
const path = require("node:path");

const flags = (process.env.WINNOW_V8_FLAGS ?? "").split(/\s+/).filter(Boolean);
const noInspector = process.env.WINNOW_NO_INSPECTOR === "1";

/** file suffix → [text to find, text to put after it] */
const patches = [];
if (noInspector)
  patches.push([`${path.sep}wrangler${path.sep}wrangler-dist${path.sep}cli.js`, "async function resolveInspectorConfig(config, input) {", " return false;"]);
if (flags.length)
  patches.push([`${path.sep}miniflare${path.sep}dist${path.sep}src${path.sep}index.js`, "function serializeConfig(config) {", ` config.v8Flags = ${JSON.stringify(flags)};`]);

if (patches.length) {
  const compile = Module.prototype._compile;
  Module.prototype._compile = function (content, filename) {
    for (const [suffix, hook, insert] of patches) {
      if (!filename.endsWith(suffix)) continue;
      // A wrangler or Miniflare upgrade that renames these must fail loudly, not measure the wrong thing.
      if (!content.includes(hook)) throw new Error(`wrangler-preload.cjs: no '${hook}' in ${filename}`);
      content = content.replace(hook, hook + insert);
    }
    return compile.call(this, content, filename);
  };
}
