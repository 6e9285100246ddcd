// Validate Amazon States Language definitions with asl-validator, one JSON definition per stdin line;
// answers one JSON line each: {"valid": true} or {"valid": false, "errors": "..."}.
// Usage: node tests/asl_validate.cjs <folder holding node_modules/asl-validator>
"use strict";
const path = require("path");
const readline = require("readline");
const validator = require(path.join(path.resolve(process.argv[2]), "node_modules", "asl-validator"));

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let answer;
  try {
    const result = validator(JSON.parse(line), { checkArn: true, checkPaths: true });
    answer = result.isValid ? { valid: true } : { valid: false, errors: result.errorsText("; ") };
  } catch (err) {
    answer = { valid: false, errors: String(err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
