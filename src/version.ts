import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** graft's version, from package.json. */
export const GRAFT_VERSION: string = (require('../package.json') as { version: string }).version;
