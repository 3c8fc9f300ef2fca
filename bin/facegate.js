#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so no build step is needed on the appliance.
import { register } from 'tsx/esm/api';
register();
const { buildProgram } = await import('../src/cli/main.ts');
const program = await buildProgram();
await program.parseAsync(process.argv);
