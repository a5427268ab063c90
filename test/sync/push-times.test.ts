import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, chmodSync, lstatSync, readdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { clone, push } from "../../src/sync/index.js";
import { fileTimes } from "../helpers/file-times.js";
import { CORPUS_GENERATOR, withTempDir } from "../helpers/fixtures.js";

test("a push of one run (read on this thread) sends its files' times, an edited run's too, and a clone gets them back", async () => {
  await withTempDir("gage-push-times-", async (tmp) => {
    const corpus = join(tmp.path, "corpus");
    execFileSync(process.execPath, [CORPUS_GENERATOR, "--out", corpus, "--runs", "2", "--seed", "5", "--quiet"]);
    const remote = join(tmp.path, "remote");
    const [first, second] = readdirSync(corpus).filter((n) => /^[0-9a-f-]{36}$/.test(n));
    for (const id of [first!, second!]) await push({ runsDir: corpus, remote, runs: [id] });
    // An edit below a folder whose siblings the stat cache answers: the edited tree is sent again.
    const sub = readdirSync(join(corpus, first!)).find((n) => lstatSync(join(corpus, first!, n)).isFile())!;
    const edited = join(corpus, first!, sub);
    chmodSync(edited, 0o644);
    appendFileSync(edited, "edited\n");
    utimesSync(edited, Date.UTC(2021, 5, 1) / 1000, Date.UTC(2021, 5, 1) / 1000);
    const result = await push({ runsDir: corpus, remote, runs: [first!] });
    assert.deepEqual(result.runs.map((r) => r.id), [first]);

    const dest = join(tmp.path, "clone");
    await clone({ runsDir: dest, remote });
    for (const id of [first!, second!, `${first}.meta`, `${second}.meta`]) {
      const theirs = fileTimes(join(corpus, id));
      const ours = fileTimes(join(dest, id));
      assert.ok(ours.size > 0, id);
      assert.deepEqual([...ours].sort(), [...theirs].sort(), id);
    }
    assert.equal(fileTimes(join(dest, first!)).get(sub), Date.UTC(2021, 5, 1) * 1000);
  });
});
