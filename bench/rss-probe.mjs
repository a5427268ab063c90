// Loaded into a `gage` process with `node --import` by the scale rows: on exit it writes the
// process's peak resident set size (bytes) to BENCH_RSS_FILE, so no external `time` is needed.
import { writeFileSync } from "node:fs";

const file = process.env.BENCH_RSS_FILE;
if (file) process.on("exit", () => writeFileSync(file, String(process.resourceUsage().maxRSS * 1024)));
