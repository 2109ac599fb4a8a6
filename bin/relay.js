#!/usr/bin/env node
// The relay runs its TypeScript sources directly through tsx's loader, so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
