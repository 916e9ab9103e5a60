// The viewer's access rules inside workerd; the pages themselves are driven in a real browser by
// test/browser/viewer.test.mjs (npm run test:browser).
import { describe, expect, it } from "vitest";
import { api, BASE, newDataset, newKey } from "../../test/helpers";

async function signIn(key: string) {
  const r = await api("/session", { method: "POST", body: new URLSearchParams({ key, next: "/" }), redirect: "manual" });
  expect(r.status).toBe(303);
  const cookie = r.headers.get("set-cookie") ?? "";
  expect(cookie).toMatch(/HttpOnly/i);
  expect(cookie).toMatch(/SameSite=Strict/i);
  return cookie.split(";")[0]!;
}

describe("viewer", () => {
  it("shows another key's private dataset exactly like a missing one, and escapes what it shows", async () => {
    const owner = await newKey();
    const other = await newKey();
    const priv = await newDataset(owner, { visibility: "private", description: "<script>alert(1)</script>" });
    const pub = await newDataset(owner, { visibility: "public", description: "<img src=x onerror=alert(1)>" });

    const page = await api(`/d/${pub}`);
    expect(page.status).toBe(200);
    expect(page.text.startsWith("<!doctype html>")).toBe(true);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.text).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(page.text).not.toContain("<img src=x");

    const cookie = await signIn(other);
    const hidden = await api(`/d/${priv}`, { headers: { cookie } });
    const missing = await api(`/d/${priv}-nope`, { headers: { cookie } });
    expect(hidden.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(hidden.text.replaceAll(priv, "")).toBe(missing.text.replaceAll(`${priv}-nope`, ""));

    const mine = await api(`/d/${priv}`, { headers: { cookie: await signIn(owner) } });
    expect(mine.status).toBe(200);
    expect(mine.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });

  it("never lets the session cookie authenticate the API, and refuses cross-site sign-ins", async () => {
    const owner = await newKey();
    const cookie = await signIn(owner);
    expect((await api("/v1/datasets", { headers: { cookie } })).status).toBe(401);

    const crossSite = await api("/session", { method: "POST", body: new URLSearchParams({ key: owner }), headers: { origin: "https://evil.example" }, redirect: "manual" });
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get("set-cookie")).toBeNull();

    const wrong = await api("/session", { method: "POST", body: new URLSearchParams({ key: "wn_wrong" }), redirect: "manual" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();

    // After sign-in the viewer only goes to paths on this site.
    const offsite = await api("/session", { method: "POST", body: new URLSearchParams({ key: owner, next: "//evil.example/x" }), redirect: "manual", headers: { origin: new URL(BASE).origin } });
    expect(offsite.headers.get("location")).toBe("/");
  });
});
