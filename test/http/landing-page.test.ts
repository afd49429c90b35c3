import { describe, expect, it } from "vitest";
import type { Request } from "express";
import { escapeHtml, HTML_CSP, isBrowserNavigation } from "../../src/http/html.ts";
import { renderLandingPage, renderProblemPage } from "../../src/http/landing-page.ts";

const HOSTILE = `<script>alert("x")</script>&'"`;

function request(method: string, accept: string | undefined): Request {
  return { method, get: (name: string) => (name.toLowerCase() === "accept" ? accept : undefined) } as unknown as Request;
}

describe("the start page and refusal pages", () => {
  it("escape every value they show", () => {
    const html = renderLandingPage({
      person: { domain: "acme", sub: HOSTILE, acr: HOSTILE, amr: [HOSTILE], authTime: 1_700_000_000, expiresAt: 1_700_003_600, admin: true, auditor: true },
    });
    expect(html).not.toContain("<script");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&quot;");
    const problem = renderProblemPage({ status: 401, title: HOSTILE, code: "invalid_token", detail: HOSTILE, request_id: HOSTILE }, { href: `/"${HOSTILE}`, text: HOSTILE });
    expect(problem).not.toContain("<script");
    expect(problem).not.toContain('href="/"<');
  });

  it("show auth_time and the session's end as ISO 8601, both", () => {
    const html = renderLandingPage({ person: { domain: "acme", sub: "alice", acr: undefined, amr: [], authTime: 1_700_000_000, expiresAt: 1_700_003_600, admin: false, auditor: false } });
    expect(html).toContain("2023-11-14T22:13:20.000Z");
    expect(html).toContain("2023-11-14T23:13:20.000Z");
    expect(html).toContain("neither an admin nor an auditor");
  });

  it("use no inline style or script, which their CSP would refuse", () => {
    for (const html of [renderLandingPage({ person: undefined }), renderProblemPage({ status: 404, title: "Not found", code: "not_found", request_id: "r" }, { href: "/", text: "start" })]) {
      expect(html).not.toMatch(/<script|<style|\sstyle=|\son[a-z]+=/i);
    }
    expect(HTML_CSP).toContain("default-src 'none'");
    expect(HTML_CSP).not.toMatch(/script-src|unsafe-inline/);
  });

  it("escapeHtml covers the five characters", () => {
    expect(escapeHtml(`&<>"'`)).toBe("&amp;&lt;&gt;&quot;&#39;");
  });
});

describe("isBrowserNavigation", () => {
  it("is a GET or HEAD that asks for HTML; fetch, curl and unsafe methods are not", () => {
    const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    expect(isBrowserNavigation(request("GET", browser))).toBe(true);
    expect(isBrowserNavigation(request("HEAD", browser))).toBe(true);
    expect(isBrowserNavigation(request("POST", browser))).toBe(false);
    expect(isBrowserNavigation(request("GET", "*/*"))).toBe(false);
    expect(isBrowserNavigation(request("GET", "application/json"))).toBe(false);
    expect(isBrowserNavigation(request("GET", undefined))).toBe(false);
  });
});
