#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist (built by `npm run setup` / `npm run build`).
import { main } from '../dist/src/main.js';

process.exitCode = await main(process.argv.slice(2), process.env);
