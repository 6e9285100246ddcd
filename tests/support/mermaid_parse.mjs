// Parse Mermaid charts with mermaid itself (in jsdom): one JSON-encoded chart per stdin line;
// answers one JSON line each: {"valid": true, "type": "flowchart-v2"} or {"valid": false, "errors": "..."}.
// Usage: node tests/mermaid_parse.mjs <folder holding node_modules/mermaid and node_modules/jsdom>
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const modules = path.join(path.resolve(process.argv[2]), "node_modules");
const load = (name, entry) => import(pathToFileURL(path.join(modules, name, entry)).href);
const { JSDOM } = await load("jsdom", "lib/api.js");
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await load("mermaid", "dist/mermaid.core.mjs");
mermaid.initialize({ startOnLoad: false });

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  let answer;
  try {
    const result = await mermaid.parse(JSON.parse(line));
    answer = { valid: true, type: result.diagramType };
  } catch (err) {
    answer = { valid: false, errors: String(err && err.message ? err.message : err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
