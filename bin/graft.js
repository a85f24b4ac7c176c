#!/usr/bin/env node
// Runs the compiled CLI (npm install / npm ci builds dist/ through the "prepare" script).
process.env.GRAFT_CLI_MAIN = '1';
await import('../dist/cli/main.js');
