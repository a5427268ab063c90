// A Git run folder both sides changed merges file by file against the base (src/sync/git/merge.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { EMPTY_TREE_OID, encodeTree, hashObject, parseTree, type GitOid, type GitTreeEntry } from "../../src/remotes/git/objects.js";
import { mergeTrees } from "../../src/sync/git/merge.js";

/** Trees held in memory: `tree({ "a.txt": "text", sub: { ... } })` stores every level. */
function treeStore() {
  const trees = new Map<GitOid, Buffer>();
  type Spec = { [name: string]: string | Spec };
  const tree = (spec: Spec): GitOid => {
    const entries: GitTreeEntry[] = Object.entries(spec).map(([name, v]) =>
      typeof v === "string" ? { mode: "100644", name, oid: hashObject("blob", Buffer.from(v)) } : { mode: "40000", name, oid: tree(v) },
    );
    const data = encodeTree(entries);
    const oid = hashObject("tree", data);
    trees.set(oid, data);
    return oid;
  };
  const read = async (oid: GitOid, where: string) => (oid === EMPTY_TREE_OID ? [] : parseTree(trees.get(oid) ?? assert.fail(`no tree ${oid}`), where));
  return { tree, read, trees };
}

test("files one side changed take that side's; a file both changed differently is a conflict named by its path", async () => {
  const { tree, read, trees } = treeStore();
  const base = tree({ "a.py": "a", "b.py": "b", sub: { "c.txt": "c", "d.txt": "d" } });
  const ours = tree({ "a.py": "a2", "b.py": "b", sub: { "c.txt": "c2", "d.txt": "d" }, "new.txt": "mine" });
  const theirs = tree({ "a.py": "a", sub: { "c.txt": "c", "d.txt": "d3" } });
  const merged = await mergeTrees(read, base, ours, theirs, "RUN", false);
  assert.ok("oid" in merged);
  for (const [oid, data] of merged.made) trees.set(oid, data);
  assert.equal(merged.oid, tree({ "a.py": "a2", sub: { "c.txt": "c2", "d.txt": "d3" }, "new.txt": "mine" }), "b.py removed by theirs, the rest of each side kept");

  const clash = tree({ "a.py": "a3", "b.py": "b", sub: { "c.txt": "c3", "d.txt": "d" } });
  assert.deepEqual(await mergeTrees(read, base, ours, clash, "RUN", false), { conflicts: ["RUN/a.py", "RUN/sub/c.txt"] });
  const forced = await mergeTrees(read, base, ours, clash, "RUN", true);
  assert.ok("oid" in forced);
  assert.equal(forced.oid, ours, "--force keeps this side's version of the files both changed");

  // No base (the record lost): what both hold differently conflicts, what one side added merges.
  const noBase = await mergeTrees(read, undefined, tree({ "a.py": "a", "x.txt": "x" }), tree({ "a.py": "a", "y.txt": "y" }), "RUN", false);
  assert.ok("oid" in noBase);
  assert.deepEqual(await mergeTrees(read, undefined, tree({ "a.py": "a2" }), tree({ "a.py": "a3" }), "RUN", false), { conflicts: ["RUN/a.py"] });
  // A file one side made a folder is a conflict; a folder emptied on both sides disappears.
  assert.deepEqual(await mergeTrees(read, base, tree({ "a.py": { "x": "x" }, "b.py": "b", sub: { "c.txt": "c", "d.txt": "d" } }), tree({ "a.py": "a9", "b.py": "b", sub: { "c.txt": "c", "d.txt": "d" } }), "RUN", false), { conflicts: ["RUN/a.py"] });
  const emptied = await mergeTrees(read, base, tree({ "a.py": "a2", "b.py": "b", sub: { "d.txt": "d" } }), tree({ "a.py": "a", "b.py": "b", sub: { "c.txt": "c" } }), "RUN", false);
  assert.ok("oid" in emptied);
  assert.equal(emptied.oid, tree({ "a.py": "a2", "b.py": "b" }));
});
