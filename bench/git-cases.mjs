// Git remote rows (issue 14): `gage push`/`gage clone` with a bare repository on the same disk,
// against plain git doing the same (`git add -A && git commit -q && git push` of the runs directory
// from a separate git dir, and `git clone file://…`, the transport, not a hard-linked clone), and
// the no-change push against rclone's re-run as for the store. Each figure is a whole process;
// its peak memory (GNU time's maximum resident set) is shown beside it.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { GAGE, rmrf, run, timed } from "./util.mjs";
import { editAndAddRun } from "./sync-cases.mjs";

const GIT_ENV = { GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@localhost", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@localhost", GIT_CONFIG_NOSYSTEM: "1" };

// Peak memory (maximum resident set) of each gage process, through GNU time when installed.
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

/** Runs gage, timed; `note` names its peak memory when it can be measured. */
async function gage(ctx, args, runsDir = ctx.runsDir) {
  const peakFile = join(ctx.work, "git-peak-kb");
  const cmd = TIME ? [TIME, ["-f", "%M", "-o", peakFile, GAGE, ...args]] : [GAGE, args];
  const result = await timed(() => run(cmd[0], cmd[1], { env: { GAGE_RUNS: runsDir, TERM: "unknown", ...GIT_ENV } }));
  const kb = TIME ? Number(readFileSync(peakFile, "utf8").trim().split("\n").pop()) : NaN;
  return { ...result, note: Number.isFinite(kb) ? `peak ${(kb / 1024).toFixed(0)} MiB` : undefined };
}

/** Plain git on the same runs directory, its git dir kept apart so the runs directory is untouched. */
function plainGit(ctx, args) {
  return run("git", [`--git-dir=${join(ctx.work, "git-peer.git")}`, `--work-tree=${ctx.runsDir}`, ...args], { env: GIT_ENV });
}

async function gitCommitPush(ctx) {
  const { ms } = await timed(async () => {
    await plainGit(ctx, ["add", "-A"]);
    await plainGit(ctx, ["commit", "-q", "-m", "runs"]);
    await plainGit(ctx, ["push", "-q", `file://${join(ctx.work, "git-peer-remote.git")}`, "HEAD:refs/heads/gage-runs"]);
  });
  return { value: ms };
}

const rclone = async (ctx) => ({ value: (await timed(() => run("rclone", ["copy", "-q", ctx.runsDir, join(ctx.work, "git-rclone")]))).ms });

export const GIT_CASES = [
  {
    shape: "many-small",
    name: "git push cold (bare repo)",
    kind: "time",
    repeat: 1,
    target: { peer: "git add+commit+push", ratio: 1.0 },
    async ours(ctx) {
      ctx.shape = "many-small";
      ctx.bare = join(ctx.work, "git-remote.git");
      await rmrf(ctx.bare);
      await rmrf(join(ctx.runsDir, ".gage-sync"));
      await run("git", ["init", "-q", "--bare", ctx.bare]);
      const { ms, note } = await gage(ctx, ["push", ctx.bare, "-y"]);
      return { value: ms, note };
    },
    peers: {
      "git add+commit+push": async (ctx) => {
        for (const dir of ["git-peer.git", "git-peer-remote.git"]) await rmrf(join(ctx.work, dir));
        await run("git", ["init", "-q", "--bare", join(ctx.work, "git-peer-remote.git")]);
        await run("git", ["init", "-q", "--bare", join(ctx.work, "git-peer.git")]);
        // The same files as ours: never .gage-sync or ID.project.
        await plainGit(ctx, ["config", "core.excludesFile", "/dev/null"]);
        await run("sh", ["-c", `printf '.gage-sync/\\n*.project\\n' > ${join(ctx.work, "git-peer.git", "info", "exclude")}`]);
        return gitCommitPush(ctx);
      },
    },
  },
  {
    shape: "many-small",
    name: "git push no-change",
    kind: "time",
    target: { peer: "rclone copy", ratio: 0.3 },
    async ours(ctx) {
      const { ms, stdout, note } = await gage(ctx, ["push", ctx.bare, "-y", "--json"]);
      if (JSON.parse(stdout).runs.length !== 0) throw new Error("a no-change git push moved runs");
      return { value: ms, note };
    },
    peers: { "rclone copy": rclone },
  },
  {
    shape: "many-small",
    name: "git push 1 edit + 1 run",
    kind: "time",
    target: { peer: "git add+commit+push", ratio: 1.0 },
    async ours(ctx) {
      await editAndAddRun(ctx);
      const { ms, note } = await gage(ctx, ["push", ctx.bare, "-y"]);
      return { value: ms, note };
    },
    peers: { "git add+commit+push": gitCommitPush },
  },
  {
    shape: "many-small",
    name: "git clone (bare repo)",
    kind: "time",
    repeat: 1,
    target: { peer: "git clone file://", ratio: 1.0 },
    async ours(ctx) {
      const dest = join(ctx.work, "git-clone");
      await rmrf(dest);
      const { ms, note } = await gage(ctx, ["clone", ctx.bare, dest], dest);
      await rmrf(dest);
      return { value: ms, note };
    },
    peers: {
      "git clone file://": async (ctx) => {
        const dest = join(ctx.work, "git-peer-clone");
        await rmrf(dest);
        const { ms } = await timed(() => run("git", ["clone", "-q", "-b", "gage-runs", `file://${join(ctx.work, "git-peer-remote.git")}`, dest], { env: GIT_ENV }));
        await rmrf(dest);
        return { value: ms };
      },
    },
  },
];
