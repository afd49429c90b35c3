/**
 * The console's only stylesheet, served from this origin (the CSP allows no other). System
 * fonts, no external resources; a dark scheme follows the system setting; focus is always
 * visible; sizes in rem so that 200% zoom reflows rather than clips.
 */
export const CONSOLE_STYLESHEET = `:root{color-scheme:light dark;--bg:#f6f7f9;--fg:#1d2430;--muted:#5a6475;--card:#fff;--line:#d5dae2;--accent:#1f5fbf;--danger:#b42318;--ok:#1a7f37}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--fg:#e6e9ef;--muted:#a3acba;--card:#1d2128;--line:#353b45;--accent:#7fb0ff;--danger:#ff8a80;--ok:#6fdc8c}}
*{box-sizing:border-box}
body{font:1rem/1.5 system-ui,sans-serif;margin:0;background:var(--bg);color:var(--fg)}
#app{max-width:72rem;margin:0 auto;padding:1rem 1.25rem 3rem}
header{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;justify-content:space-between;border-bottom:1px solid var(--line);padding-bottom:.75rem}
.brand{font-weight:700;font-size:1.2rem;margin:0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.5rem 0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:.5rem;padding:0;margin:1rem 0}
nav a{display:inline-block;padding:.35rem .8rem;border-radius:.4rem;color:var(--accent);text-decoration:none;border:1px solid var(--line)}
nav a[aria-current]{background:var(--accent);color:var(--bg)}
section,form{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:1rem;margin:1rem 0}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:0}
.field{display:flex;flex-direction:column;gap:.2rem;margin:.5rem 0}
.hint,.empty{color:var(--muted);font-size:.9rem}
input,select,textarea{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:.3rem;background:var(--bg);color:var(--fg);max-width:100%}
button,.button{font:inherit;display:inline-block;padding:.4rem .9rem;margin:.25rem .25rem .25rem 0;border-radius:.4rem;border:1px solid var(--accent);background:var(--accent);color:var(--bg);cursor:pointer;text-decoration:none}
button.secondary{background:transparent;color:var(--accent)}
button.danger{background:transparent;color:var(--danger);border-color:var(--danger)}
button.link{background:none;border:none;color:var(--accent);text-decoration:underline;padding:0;margin:0}
button:disabled{opacity:.5;cursor:not-allowed}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
table{border-collapse:collapse;width:100%;display:block;overflow-x:auto}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}
th{overflow-wrap:normal;white-space:nowrap}
pre{background:var(--bg);border:1px solid var(--line);padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.notice{padding:.6rem .9rem;border-radius:.4rem;border:1px solid var(--line);background:var(--card)}
.notice.error{border-color:var(--danger)}.notice.ok{border-color:var(--ok)}
.step-up,.pending,.nsk-once{border-color:var(--accent);border-width:2px}
.secret{font-family:ui-monospace,monospace;overflow-wrap:anywhere}
.filters{display:flex;flex-wrap:wrap;gap:0 1rem;border:none;padding:0;background:none}
.signed-out{max-width:32rem;margin:4rem auto}
`;
