// Preloaded into a child `gage` by hostile e2e tests: its peak resident memory (KiB) at exit.
import { writeFileSync } from "node:fs";

const file = process.env.GAGE_TEST_RSS_FILE;
if (file) process.on("exit", () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
