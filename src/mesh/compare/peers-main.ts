/** The entry of hub compare's peers process (peers.ts): `node peers-main.js FLOW...`. */
import { runPeers } from './peers.js';

await runPeers(process.argv.slice(2));
