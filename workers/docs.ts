// /docs: a readable page generated in the browser from /openapi.json. No CDN assets, so it
// works offline with `npm start`.
export function docsPage(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Winnow API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{margin-bottom:.2rem} .op{border:1px solid #ddd;border-radius:8px;margin:1rem 0;padding:.6rem 1rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700;font-family:monospace} .get{color:#0a6} .post{color:#06c}
code,pre{font-family:ui-monospace,monospace;font-size:13px} pre{background:#f6f6f6;padding:.6rem;border-radius:6px;overflow:auto;max-height:22rem}
details summary{cursor:pointer;color:#555}
</style></head><body>
<h1>Winnow API</h1><p>Every route takes <code>Authorization: Bearer &lt;key&gt;</code>; errors are <code>{"error": {"code", "message", "details"}}</code>. Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<div id="ops">Loading…</div>
<script>
fetch('/openapi.json').then(r=>r.json()).then(doc=>{
  const esc=s=>String(s).replace(/[&<>]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
  const out=[];
  for(const [path,ops] of Object.entries(doc.paths)) for(const [m,op] of Object.entries(ops)){
    const body=op.requestBody&&Object.values(op.requestBody.content)[0];
    out.push('<div class="op"><span class="m '+m+'">'+m.toUpperCase()+'</span> <code>'+esc(path)+'</code> — '+esc(op.summary||'')+
      (body?'<details><summary>request body</summary><pre>'+esc(JSON.stringify(body.schema,null,2))+'</pre></details>':'')+
      '<details><summary>responses</summary><pre>'+esc(JSON.stringify(op.responses,null,2))+'</pre></details></div>');
  }
  document.getElementById('ops').innerHTML=out.join('');
});
</script></body></html>`;
}
